"""Real audio files and tiny real FunASR models, made at test time.

Fixtures skip with the reason when what they need is absent: sox/ffmpeg/espeak-ng (Debian:
`apt-get install sox libsox-fmt-all ffmpeg espeak-ng`) and silk-python for the audio files,
torch and funasr (`pip install -e '.[voice]'`) for the models.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SENTENCE = "ni3 hao3, wo3 xiang3 ban4 shen1 fen4 zheng4. she4 bao3 ka3 zai4 na3 li3 ban4?"


def _missing_tools() -> list[str]:
    missing = [t for t in ("sox", "ffmpeg", "espeak-ng") if shutil.which(t) is None]
    if importlib.util.find_spec("pysilk") is None:
        missing.append("silk-python")
    return missing


def _missing_models() -> list[str]:
    return [m for m in ("torch", "funasr", "sentencepiece", "yaml") if importlib.util.find_spec(m) is None]


def need_tools() -> None:
    missing = _missing_tools()
    if missing:
        pytest.skip(f"voice audio tests need {', '.join(missing)} "
                    "(apt-get install sox libsox-fmt-all ffmpeg espeak-ng; pip install silk-python)")


def need_models() -> None:
    missing = _missing_models()
    if missing:
        pytest.skip(f"voice model tests need {', '.join(missing)} (pip install -e '.[voice]')")


def run(*command: str, data: bytes | None = None) -> bytes:
    return subprocess.run(command, input=data, capture_output=True, check=True, timeout=60).stdout


@dataclass(frozen=True)
class Clips:
    folder: Path
    seconds: float  # the spoken sentence, before any padding

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    """One espeak-ng sentence in every format residents send: AMR (with silence, so DTX frames),
    SILK (WeChat's variant), MP3, AAC (ADTS and M4A), WAV (22.05 kHz and 16 kHz), raw PCM."""
    need_tools()
    import pysilk

    folder = tmp_path_factory.mktemp("clips")
    speech = folder / "speech.wav"
    run("espeak-ng", "-v", "cmn-latn-pinyin", "-s", "150", "-w", str(speech), SENTENCE)
    seconds = float(run("soxi", "-D", str(speech)))
    padded = folder / "padded.wav"
    run("sox", str(speech), "-r", "8000", "-c", "1", str(padded), "pad", "1.5", "1.5")
    run("sox", str(padded), "-t", "amr-nb", str(folder / "voice.amr"))
    run("sox", str(speech), "-r", "16000", "-c", "1", "-b", "16", str(folder / "voice16k.wav"))
    shutil.copy(speech, folder / "voice.wav")
    run("sox", str(speech), "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", str(folder / "voice.pcm"))
    for name, codec in (("voice.mp3", ["-c:a", "libmp3lame"]), ("voice.m4a", ["-c:a", "aac"]),
                        ("voice.aac", ["-c:a", "aac", "-f", "adts"])):
        run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(speech), *codec, str(folder / name))
    pcm24 = run("sox", str(speech), "-t", "raw", "-r", "24000", "-c", "1", "-b", "16", "-e", "signed", "-")
    silk = io.BytesIO()
    pysilk.encode(io.BytesIO(pcm24), silk, 24000, 24000, tencent=True)
    (folder / "voice.silk").write_bytes(silk.getvalue())
    return Clips(folder, seconds)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Randomly initialised Paraformer and SenseVoiceSmall directories (~100k parameters each)."""
    need_models()
    from tongban.voice.tiny import build_paraformer, build_sensevoice

    folder = tmp_path_factory.mktemp("models")
    return {"paraformer": build_paraformer(folder / "paraformer"),
            "sensevoice": build_sensevoice(folder / "sensevoice")}


@pytest.fixture(scope="session")
def sensevoice(tiny_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    from tongban.voice.recognizer import FunASRRecognizer

    return FunASRRecognizer(tiny_models["sensevoice"], threads=1).load()


@pytest.fixture(scope="session")
def paraformer(tiny_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    from tongban.voice.recognizer import FunASRRecognizer

    return FunASRRecognizer(tiny_models["paraformer"], threads=1).load()
