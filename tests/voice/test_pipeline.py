"""End to end: audio bytes → decode → tiny FunASR model → text, language, confidence, in a
bounded pool that leaves the event loop free."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.voice.conftest import Clips
from tongban.agent.messages import Transcript
from tongban.channels.app.voice_setup import make_transcribe
from tongban.voice.audio import NOT_HEARD, AudioError
from tongban.voice.pipeline import Transcription, VoiceBusy, VoicePipeline, max_seconds_for
from tongban.voice.recognizer import LANGUAGES, Heard, RecognitionError

pytestmark = pytest.mark.slow  # tiny real FunASR models built at test time

FORMATS = [("voice.amr", "amr"), ("voice.silk", "silk"), ("voice.mp3", "mp3"), ("voice.aac", "aac"),
           ("voice.m4a", "m4a"), ("voice.wav", "wav"), ("voice.pcm", "pcm")]


@pytest.mark.parametrize(("name", "fmt"), FORMATS)
async def test_every_format_reaches_the_model(clips: Clips, sensevoice, name: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    pipeline = VoicePipeline(sensevoice, workers=2, max_queue=4)
    try:
        text, heard = await pipeline.transcribe(clips.read(name), fmt, max_seconds=60)
    finally:
        await pipeline.close()
    assert isinstance(text, str)
    assert isinstance(heard, Transcription) and heard.language in LANGUAGES
    assert isinstance(heard.confidence, float) and 0.0 <= heard.confidence <= 1.0
    transcript = Transcript(*heard)  # what the channel hands the agent
    assert transcript.language == heard.language


async def test_detailed_result_reports_each_stage(clips: Clips, paraformer) -> None:  # type: ignore[no-untyped-def]
    pipeline = VoicePipeline(paraformer, workers=1)
    result = await pipeline.transcribe_detailed(clips.read("voice.amr"), "amr", max_seconds=60)
    await pipeline.close()
    assert result.source == "amr" and result.language == "zh"
    assert result.audio_seconds > clips.seconds and result.decode_s > 0 and result.recognize_s > 0


async def test_over_long_and_broken_clips_get_the_spoken_reply(clips: Clips, sensevoice) -> None:  # type: ignore[no-untyped-def]
    pipeline = VoicePipeline(sensevoice)
    with pytest.raises(AudioError, match=NOT_HEARD):
        await pipeline.transcribe(clips.read("voice.mp3"), "mp3", max_seconds=1)
    with pytest.raises(AudioError, match=NOT_HEARD):
        await pipeline.transcribe(b"#!AMR\n" + bytes(7), "amr", max_seconds=60)
    await pipeline.close()


def test_limits_follow_the_channel_format() -> None:
    assert max_seconds_for("amr") == 60 and max_seconds_for("speex") == 60
    assert max_seconds_for("aac") == max_seconds_for("mp3") == max_seconds_for("pcm") == 600


async def test_concurrent_clips_share_a_bounded_pool_and_the_loop_keeps_ticking(clips: Clips, paraformer) -> None:  # type: ignore[no-untyped-def]
    pipeline = VoicePipeline(paraformer, workers=2, max_queue=8)
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    audio = [clips.read(n) for n in ("voice.amr", "voice.silk", "voice.mp3", "voice.m4a", "voice.wav", "voice.amr")]
    results = await asyncio.gather(*(pipeline.transcribe_detailed(a, "", max_seconds=60) for a in audio))
    stop.set()
    await ticking
    await pipeline.close()
    assert len(results) == 6
    assert sum(r.queued_s > 0.05 for r in results) >= 2, "with two workers, later clips waited their turn"
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.3f} s"
    assert len(gaps) > 10


class SlowRecognizer:
    name = "slow"

    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    async def recognize(self, pcm: bytes) -> Heard:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.3)
        self.running -= 1
        return Heard(text="我想办社保卡", language="zh", confidence=0.91)


async def test_a_full_queue_is_answered_at_once(clips: Clips) -> None:
    slow = SlowRecognizer()
    pipeline = VoicePipeline(slow, workers=1, max_queue=1)
    pcm = clips.read("voice.pcm")
    first = asyncio.create_task(pipeline.transcribe(pcm, "pcm"))
    second = asyncio.create_task(pipeline.transcribe(pcm, "pcm"))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    with pytest.raises(VoiceBusy) as caught:
        await pipeline.transcribe(pcm, "pcm")
    assert time.perf_counter() - started < 0.05 and str(caught.value) == NOT_HEARD
    assert (await first)[0] == (await second)[0] == "我想办社保卡"
    assert slow.most == 1
    await pipeline.close()


async def test_the_channel_hook_wraps_results_and_hides_errors(clips: Clips) -> None:
    class Failing:
        name = "down"

        async def recognize(self, pcm: bytes) -> Heard:
            raise RecognitionError("runtime server down")

    hook = make_transcribe(VoicePipeline(SlowRecognizer()))
    text, transcript = await hook(clips.read("voice.pcm"), "pcm")  # type: ignore[misc]
    assert text == "我想办社保卡" and transcript == Transcript(confidence=0.91, language="zh")
    assert await hook(b"garbage", "amr") is None
    assert await make_transcribe(VoicePipeline(Failing()))(clips.read("voice.pcm"), "pcm") is None
