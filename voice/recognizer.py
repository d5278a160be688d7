"""Speech recognition behind one small interface: 16 kHz PCM in; text, language, confidence out.

Implementations:

- `FunASRRecognizer`: FunASR's `AutoModel` on LOCAL model directories — Paraformer-zh for
  Mandarin (with the VAD and punctuation models when given) or SenseVoiceSmall, which detects
  the language itself, Cantonese included. Loaded once, lazily (importing funasr takes ~10 s),
  inference off the event loop; a model that is not an existing directory is refused, so
  nothing ever reaches a model hub at run time.
- `RoutedRecognizer`: SenseVoice decides the language; Mandarin is re-read by Paraformer.
- `RuntimeRecognizer` (`runtime.py`): a FunASR runtime server over its WebSocket protocol.
- `from_wechat`: the 公众号's own `Recognition` text, when WeChat sent one.

Confidence is the mean posterior of the tokens the model emitted, read from the model's output
layer during inference (SenseVoice: the CTC layer, skipping its four tag positions; Paraformer:
the decoder's output layer). Where no posteriors are available (a runtime server, an unknown
model class) `heuristic_confidence` stands in.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

INSTALL_HINT = "speech recognition needs the voice extra: pip install 'tongban[voice]'"
LANGUAGES = ("zh", "yue", "en", "ja", "ko")
EMOTIONS = ("HAPPY", "SAD", "ANGRY", "NEUTRAL", "FEARFUL", "DISGUSTED", "SURPRISED", "EMO_UNKNOWN")
EVENTS = ("Speech", "BGM", "Applause", "Laughter", "Cry", "Sneeze", "Breath", "Cough")
_TAG = re.compile(r"<\|([^|<>]*)\|>")
SAMPLE_RATE = 16000


class VoiceConfigError(RuntimeError):
    """The deployment's voice configuration cannot work (missing directory, missing package)."""


class RecognitionError(RuntimeError):
    """Recognition failed for this clip (server down, timeout): the resident is asked again."""


@dataclass(frozen=True)
class Heard:
    """What was understood. `language` is a SenseVoice code: zh, yue, en, ja, ko."""

    text: str
    language: str = "zh"
    confidence: float = 0.0
    emotion: str | None = None
    event: str | None = None
    seconds: float = 0.0  # recognition time, for metrics and the bench


class Recognizer(Protocol):
    name: str

    async def recognize(self, pcm: bytes) -> Heard:
        """Recognise 16 kHz mono s16le PCM; raises `RecognitionError` when it cannot."""
        ...


# ---------------------------------------------------------------------------- output parsing


@dataclass(frozen=True)
class RichText:
    text: str
    language: str | None = None
    emotion: str | None = None
    event: str | None = None


def parse_rich(raw: str) -> RichText:
    """Split SenseVoice's `<|yue|><|NEUTRAL|><|Speech|><|withitn|>text` into text and tags.

    With VAD, segments are joined and each carries its own tags: the language is the one that
    tags the most text.
    """
    languages: Counter[str] = Counter()
    emotion = event = None
    pieces = _TAG.split(raw)  # text, tag, text, tag, …
    current: str | None = None
    for index, piece in enumerate(pieces):
        if index % 2:  # a tag
            if piece in LANGUAGES:
                current = piece
            elif piece in EMOTIONS and emotion is None:
                emotion = piece
            elif piece in EVENTS and event is None:
                event = piece
        elif current and piece.strip():
            languages[current] += len(piece.strip())
    if not languages and current:
        languages[current] = 1
    text = _TAG.sub("", raw)
    text = re.sub(r"(?<=[\u3400-\u9fff，。？！、])\s+(?=[\u3400-\u9fff])", "", text).strip()
    language = languages.most_common(1)[0][0] if languages else None
    return RichText(text=text, language=language, emotion=emotion, event=event)


def heuristic_confidence(text: str, seconds: float) -> float:
    """Without posteriors: plausible speaking rate → 0.8, implausible → 0.4, nothing → 0.

    Mandarin and Cantonese run at about 3–6 syllables (characters) a second; a transcript far
    outside 0.5–9 a second is more likely noise or a truncated reading.
    """
    chars = len(re.sub(r"[\s\W_]", "", text))
    if not chars:
        return 0.0
    rate = chars / max(seconds, 0.1)
    return 0.8 if 0.5 <= rate <= 9.0 else 0.4


def from_wechat(recognition: str | None, confidence: float = 0.9) -> Heard | None:
    """WeChat's own recognition of a 公众号 voice message (Mandarin), when it sent one."""
    text = (recognition or "").strip().rstrip("。")
    return Heard(text=text, language="zh", confidence=confidence) if text else None


# ---------------------------------------------------------------------------- FunASR, local


def model_kind(directory: Path) -> str:
    """`sensevoice`, `paraformer` or another model class name, from the directory's config."""
    config = directory / "config.yaml"
    if not config.is_file():
        raise VoiceConfigError(f"{directory} has no config.yaml: not a FunASR model directory")
    match = re.search(r"^model:\s*['\"]?([\w.-]+)", config.read_text(encoding="utf-8"), re.M)
    name = match.group(1) if match else ""
    if "SenseVoice" in name:
        return "sensevoice"
    if "Paraformer" in name or "paraformer" in name:
        return "paraformer"
    return name or "unknown"


def _local_dir(path: str | Path | None, what: str) -> Path | None:
    """A model directory that exists, or a clear refusal: names would be fetched from a hub."""
    if path is None or str(path) == "":
        return None
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise VoiceConfigError(
            f"{what} model {str(path)!r} is not a directory on this machine; tongban loads models "
            "only from local directories (fetch them with `tongban voice models DIR` on a machine "
            "with internet, then copy them over)"
        )
    model_kind(directory)  # has a config.yaml
    return directory


class FunASRRecognizer:
    """FunASR `AutoModel` on local directories, loaded once, called from worker threads.

    Inference is serialised by a lock: `AutoModel.generate` updates its own kwargs on every
    call and the posterior capture below reads one call at a time. On CPU torch already uses
    every core for one clip; to recognise more clips at once, run a runtime server.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        vad_dir: str | Path | None = None,
        punc_dir: str | Path | None = None,
        device: str = "cpu",
        threads: int = 2,
        language: str = "auto",
        hotwords: tuple[str, ...] = (),
    ) -> None:
        directory = _local_dir(model_dir, "speech")
        assert directory is not None
        self.model_dir = directory
        self.vad_dir = _local_dir(vad_dir, "VAD")
        self.punc_dir = _local_dir(punc_dir, "punctuation")
        self.kind = model_kind(directory)
        self.name = f"funasr:{self.kind}"
        self.device, self.threads, self.language, self.hotwords = device, threads, language, hotwords
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()
        self._posteriors: list[np.ndarray] = []

    # -------------------------------------------------------------- loading

    def load(self) -> FunASRRecognizer:
        """Import funasr and build the model once (thread-safe); later calls return at once."""
        with self._load_lock:
            if self._model is None:
                self._model = self._build()
        return self

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _build(self) -> Any:
        started = time.perf_counter()
        try:
            from funasr import AutoModel
        except ImportError as exc:
            raise VoiceConfigError(INSTALL_HINT) from exc
        options: dict[str, Any] = {
            "model": str(self.model_dir), "device": self.device, "ncpu": self.threads,
            "disable_update": True, "disable_pbar": True, "disable_log": True, "log_level": "ERROR",
        }
        if self.vad_dir is not None:
            options.update(vad_model=str(self.vad_dir), vad_kwargs={"max_single_segment_time": 30000})
        if self.punc_dir is not None and self.kind == "paraformer":  # SenseVoice punctuates itself (ITN)
            options["punc_model"] = str(self.punc_dir)
        model = AutoModel(**options)
        self._watch(model.model)
        log.info("voice: loaded %s from %s in %.1f s", self.kind, self.model_dir, time.perf_counter() - started)
        return model

    def _watch(self, network: Any) -> None:
        """Capture the output layer's logits during inference, for a posterior confidence."""
        layer = None
        if self.kind == "sensevoice":
            layer = getattr(getattr(network, "ctc", None), "ctc_lo", None)
        elif self.kind == "paraformer":
            layer = getattr(getattr(network, "decoder", None), "output_layer", None)
        if layer is None:
            log.info("voice: no output layer found on %s; confidence is heuristic", self.kind)
            return

        def keep(_module: Any, _inputs: Any, output: Any) -> None:
            self._posteriors.append(output.detach().float().cpu().numpy())

        layer.register_forward_hook(keep)

    # -------------------------------------------------------------- inference

    async def recognize(self, pcm: bytes) -> Heard:
        return await asyncio.to_thread(self.recognize_sync, pcm)

    def recognize_sync(self, pcm: bytes) -> Heard:
        model = self.load()._model
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        options: dict[str, Any] = {"disable_pbar": True}
        if self.kind == "sensevoice":
            options.update(language=self.language, use_itn=True, return_raw_text=True)
        if self.hotwords:
            options["hotword"] = " ".join(self.hotwords)
        started = time.perf_counter()
        with self._infer_lock:
            self._posteriors.clear()
            try:
                results = model.generate(input=audio, **options)
            except Exception as exc:  # a model failure is this clip's, not the server's
                log.exception("voice: %s failed on a %.1f s clip", self.kind, len(audio) / SAMPLE_RATE)
                raise RecognitionError(f"{self.kind} failed: {type(exc).__name__}") from exc
            posteriors = list(self._posteriors)
        elapsed = time.perf_counter() - started
        result = results[0] if results else {}
        raw = str(result.get("raw_text") or result.get("text") or "")
        rich = parse_rich(raw)
        language = rich.language or "zh"  # Paraformer-zh has no tags: Mandarin
        text = rich.text
        confidence = _posterior_confidence(posteriors, skip=4 if self.kind == "sensevoice" else 0)
        if confidence is None:
            confidence = heuristic_confidence(text, len(audio) / SAMPLE_RATE)
        if not text:
            confidence = 0.0
        return Heard(text=text, language=language, confidence=round(confidence, 3),
                     emotion=rich.emotion, event=rich.event, seconds=elapsed)


def _posterior_confidence(chunks: list[np.ndarray], *, skip: int) -> float | None:
    """Mean top posterior of emitted tokens (blank, id 0, excluded) over every call's logits.

    CTC (SenseVoice): frames whose best token is not blank, after the `skip` tag frames.
    Paraformer: every decoder position is an emitted token.
    """
    scores: list[np.ndarray] = []
    for logits in chunks:
        if logits.ndim != 3:
            continue
        for row in logits:  # one utterance (or VAD segment) of the batch
            row = row[skip:] if skip else row
            if not len(row):
                continue
            shifted = row - row.max(axis=-1, keepdims=True)
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
            best = probs.argmax(axis=-1)
            top = probs.max(axis=-1)
            emitted = top[best != 0] if skip else top
            if len(emitted):
                scores.append(emitted)
    if not chunks:
        return None
    if not scores:
        return 0.0
    return float(np.concatenate(scores).mean())


@dataclass
class RoutedRecognizer:
    """SenseVoice listens first (any language, Cantonese included); Mandarin is re-read by
    Paraformer, which is stronger on Mandarin and takes hotwords."""

    detector: Recognizer
    mandarin: Recognizer
    name: str = field(default="funasr:routed")

    async def recognize(self, pcm: bytes) -> Heard:
        first = await self.detector.recognize(pcm)
        if first.language != "zh" or not first.text:
            return first
        second = await self.mandarin.recognize(pcm)
        if not second.text:
            return first
        return Heard(text=second.text, language="zh", confidence=second.confidence, emotion=first.emotion,
                     event=first.event, seconds=first.seconds + second.seconds)
