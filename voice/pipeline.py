"""Voice message → (text, (confidence, language)), in a bounded pool beside the event loop.

Decoding (subprocesses) and recognition (torch, or a runtime server) take from tens of
milliseconds to seconds per clip, so they never run on the event loop: at most `workers` clips
are decoded and recognised at once, at most `max_queue` more wait their turn, and beyond that
the resident hears the spoken-style reply straight away instead of waiting behind a crowd.
Other residents' text turns keep flowing meanwhile.

The result is plain values, so voice imports nothing of the agent's; the channel wraps them in
`agent.messages.Transcript`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client import Counter, Histogram

from tongban.voice.audio import MINIPROGRAM_MAX_SECONDS, OA_MAX_SECONDS, RATE, AudioError, decode
from tongban.voice.recognizer import RecognitionError, Recognizer

log = logging.getLogger(__name__)

CLIPS = Counter("tongban_voice_clips_total", "Voice messages by outcome", ["outcome"])
STAGE_SECONDS = Histogram(
    "tongban_voice_stage_seconds", "Time per voice message stage", ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)


class VoiceBusy(AudioError):
    """Every worker is busy and the queue is full: answered at once, not after a long wait."""


class Transcription(NamedTuple):
    """The fields of `agent.messages.Transcript`, in its order: `Transcript(*t)` works."""

    confidence: float
    language: str


@dataclass(frozen=True)
class Result:
    text: str
    language: str
    confidence: float
    source: str  # the container actually decoded
    audio_seconds: float
    queued_s: float
    decode_s: float
    recognize_s: float


def max_seconds_for(fmt: str) -> float:
    """The clip limit by what sent it: AMR/Speex are 公众号 voice (60 s), the rest mini-program (600 s)."""
    return OA_MAX_SECONDS if (fmt or "").lower().lstrip(".") in ("amr", "speex", "amr-nb") else MINIPROGRAM_MAX_SECONDS


class VoicePipeline:
    def __init__(
        self, recognizer: Recognizer, *, workers: int = 2, max_queue: int = 16, pcm_rate: int = RATE,
        default_max_seconds: float = OA_MAX_SECONDS,
    ) -> None:
        self.recognizer = recognizer
        self.workers, self.max_queue = workers, max_queue
        self.pcm_rate, self.default_max_seconds = pcm_rate, default_max_seconds
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tongban-voice")
        self._slots = asyncio.Semaphore(workers)
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    async def transcribe(
        self, audio: bytes, fmt: str, *, max_seconds: float | None = None
    ) -> tuple[str, Transcription]:
        """Text and (confidence, language); "" when nothing was said. Raises `AudioError`
        (its message is the spoken-style reply) for broken or over-long clips and a full queue."""
        result = await self.transcribe_detailed(audio, fmt, max_seconds=max_seconds)
        return result.text, Transcription(result.confidence, result.language)

    async def transcribe_detailed(self, audio: bytes, fmt: str, *, max_seconds: float | None = None) -> Result:
        limit = max_seconds if max_seconds is not None else self.default_max_seconds
        if self._slots.locked() and self._waiting >= self.max_queue:
            CLIPS.labels(outcome="busy").inc()
            raise VoiceBusy(f"{self._waiting} voice messages already waiting")
        queued = time.perf_counter()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await self._work(audio, fmt, limit, queued)
        finally:
            self._slots.release()

    async def _work(self, audio: bytes, fmt: str, limit: float, queued: float) -> Result:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            decoded = await loop.run_in_executor(
                self._executor, lambda: decode(audio, fmt, max_seconds=limit, pcm_rate=self.pcm_rate)
            )
        except AudioError as exc:
            CLIPS.labels(outcome="bad_audio").inc()
            log.info("voice: %s clip refused: %s", fmt or "?", exc.reason)
            raise
        decoded_at = time.perf_counter()
        try:
            heard = await self.recognizer.recognize(decoded.pcm)
        except RecognitionError as exc:
            CLIPS.labels(outcome="failed").inc()
            log.warning("voice: recognition failed: %s", exc)
            raise AudioError(str(exc)) from exc
        done = time.perf_counter()
        STAGE_SECONDS.labels(stage="queue").observe(started - queued)
        STAGE_SECONDS.labels(stage="decode").observe(decoded_at - started)
        STAGE_SECONDS.labels(stage="recognise").observe(done - decoded_at)
        CLIPS.labels(outcome="heard" if heard.text else "silent").inc()
        return Result(
            text=heard.text, language=heard.language, confidence=heard.confidence, source=decoded.source,
            audio_seconds=decoded.seconds, queued_s=started - queued, decode_s=decoded_at - started,
            recognize_s=done - decoded_at,
        )

    async def warm(self) -> None:
        """Load local models now (off the loop), so the first resident does not wait for it."""
        load = getattr(self.recognizer, "load", None)
        if callable(load):
            await asyncio.to_thread(load)
        for part in ("detector", "mandarin"):
            inner = getattr(getattr(self.recognizer, part, None), "load", None)
            if callable(inner):
                await asyncio.to_thread(inner)

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, True)
