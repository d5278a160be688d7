"""Recognition: output parsing, and FunASR's real AutoModel code on tiny local model directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.voice.conftest import Clips
from tongban.voice.audio import decode
from tongban.voice.recognizer import (
    LANGUAGES,
    FunASRRecognizer,
    Heard,
    VoiceConfigError,
    from_wechat,
    heuristic_confidence,
    model_kind,
    parse_rich,
)


def test_sensevoice_tags_are_parsed() -> None:
    rich = parse_rich("<|yue|><|NEUTRAL|><|Speech|><|withitn|>身份证过期咗点样换？")
    assert (rich.text, rich.language, rich.emotion, rich.event) == ("身份证过期咗点样换？", "yue", "NEUTRAL", "Speech")


def test_segments_joined_by_vad_take_the_language_of_most_text() -> None:
    rich = parse_rich("<|zh|><|HAPPY|><|Speech|><|woitn|>你好 <|yue|><|NEUTRAL|><|Speech|><|woitn|>我想问下社保卡点样办")
    assert rich.language == "yue" and rich.emotion == "HAPPY"
    assert rich.text == "你好我想问下社保卡点样办"


def test_untagged_text_has_no_language_and_empty_is_empty() -> None:
    assert parse_rich("你好").language is None
    assert parse_rich("<|nospeech|><|EMO_UNKNOWN|><|Event_UNK|><|woitn|>").text == ""


def test_heuristic_confidence_follows_the_speaking_rate() -> None:
    assert heuristic_confidence("", 3.0) == 0.0
    assert heuristic_confidence("我想办身份证", 2.0) == 0.8
    assert heuristic_confidence("我" * 80, 2.0) == 0.4


def test_wechat_recognition_is_mandarin_with_its_own_confidence() -> None:
    assert from_wechat("我想办社保卡。") == Heard(text="我想办社保卡", language="zh", confidence=0.9)
    assert from_wechat("  ") is None and from_wechat(None) is None


@pytest.mark.parametrize("name", ["iic/SenseVoiceSmall", "paraformer-zh", "/nonexistent/model"])
def test_model_names_that_are_not_local_directories_are_refused(name: str) -> None:
    with pytest.raises(VoiceConfigError, match="not a directory on this machine"):
        FunASRRecognizer(name)


def test_a_directory_without_a_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VoiceConfigError, match="config.yaml"):
        FunASRRecognizer(tmp_path)


@pytest.mark.slow  # real audio or a FunASR model
def test_tiny_models_load_from_their_directories_without_a_hub(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from funasr.download import download_model_from_hub as hub

    def no_hub(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a model hub was contacted")

    for name in ("get_or_download_model_dir", "get_or_download_model_dir_hf"):
        monkeypatch.setattr(hub, name, no_hub)
    for kind, directory in tiny_models.items():
        assert model_kind(directory) == kind
        recognizer = FunASRRecognizer(directory, threads=1).load()
        assert recognizer.loaded and recognizer.kind == kind
        network = type(recognizer._model.model).__name__
        assert network == {"paraformer": "Paraformer", "sensevoice": "SenseVoiceSmall"}[kind]


@pytest.mark.slow  # real audio or a FunASR model
@pytest.mark.parametrize("which", ["paraformer", "sensevoice"])
def test_tiny_model_recognises_a_real_clip(clips: Clips, which: str, request: pytest.FixtureRequest) -> None:
    """Random weights say gibberish: the shape of the answer is what is checked, and that
    FunASR's inference ran (posteriors were captured from the model's output layer)."""
    recognizer = request.getfixturevalue(which)
    pcm = decode(clips.read("voice.amr"), "amr", max_seconds=60).pcm
    heard = recognizer.recognize_sync(pcm)
    assert isinstance(heard, Heard) and isinstance(heard.text, str)
    assert heard.language in LANGUAGES
    assert 0.0 <= heard.confidence <= 1.0
    assert heard.seconds > 0
    assert recognizer._posteriors, "the output layer was read during inference"
    if heard.text:
        assert heard.confidence < 0.6, "random weights are never confident: the agent would read it back"
