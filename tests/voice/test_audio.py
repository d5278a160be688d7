"""Every voice format residents send decodes to 16 kHz mono PCM; bad clips get the spoken reply."""

from __future__ import annotations

import pytest

from tests.voice.conftest import Clips
from tongban.voice import audio
from tongban.voice.audio import NOT_HEARD, AudioError, decode, sniff

pytestmark = pytest.mark.slow  # decodes real audio files with sox, ffmpeg and silk

FORMATS = [("voice.amr", "amr", "amr"), ("voice.silk", "silk", "silk"), ("voice.mp3", "mp3", "mp3"),
           ("voice.aac", "aac", "aac"), ("voice.m4a", "aac", "m4a"), ("voice.wav", "wav", "wav"),
           ("voice16k.wav", "wav", "wav"), ("voice.pcm", "pcm", "pcm")]


@pytest.mark.parametrize(("name", "declared", "found"), FORMATS)
def test_each_format_decodes_to_16k_mono_pcm(clips: Clips, name: str, declared: str, found: str) -> None:
    decoded = decode(clips.read(name), declared, max_seconds=60)
    assert decoded.source == found
    assert len(decoded.pcm) % 2 == 0
    expected = clips.seconds + (3.0 if found == "amr" else 0.0)  # the AMR clip has 1.5 s of silence each side
    assert abs(decoded.seconds - expected) < 0.25, (decoded.seconds, expected)


def test_amr_silence_frames_are_kept(clips: Clips) -> None:
    """sox decodes the DTX (SID / no-data) frames of silence that ffmpeg drops."""
    data = clips.read("voice.amr")[6:]
    sizes = [12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0]
    kinds, i = set(), 0
    while i < len(data):
        kinds.add(data[i] >> 3 & 15)
        i += 1 + sizes[data[i] >> 3 & 15]
    assert kinds & {8, 15}, "the fixture has silence frames"
    assert decode(clips.read("voice.amr"), "amr", max_seconds=60).seconds > clips.seconds + 2.5


def test_magic_bytes_win_over_the_declared_format(clips: Clips) -> None:
    assert sniff(clips.read("voice.amr")) == "amr"
    assert decode(clips.read("voice.amr"), "mp3", max_seconds=60).source == "amr"
    assert decode(clips.read("voice.silk"), "aac", max_seconds=60).source == "silk"
    assert decode(clips.read("voice.mp3"), "", max_seconds=60).source == "mp3"


def test_pcm_that_happens_to_start_like_an_mpeg_frame_stays_pcm(clips: Clips) -> None:
    pcm = b"\xff\xf1" + clips.read("voice.pcm")[2:]
    assert sniff(pcm) == "aac"
    assert decode(pcm, "pcm", max_seconds=60).source == "pcm"


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 3]


BROKEN = [
    ("empty", lambda c: b"", "amr"),
    ("amr header only", lambda c: c.read("voice.amr")[:6], "amr"),
    ("truncated silk", lambda c: _cut(c.read("voice.silk")), "silk"),
    ("garbled silk", lambda c: c.read("voice.silk")[:10] + bytes(range(256)) * 8, "silk"),
    ("truncated wav", lambda c: _cut(c.read("voice.wav")), "wav"),
    ("truncated m4a", lambda c: _cut(c.read("voice.m4a")), "aac"),
    ("garbled mp3", lambda c: b"ID3" + bytes(2000), "mp3"),
    ("noise declared as aac", lambda c: bytes(range(7, 250)) * 20, "aac"),
    ("odd-length pcm", lambda c: c.read("voice.pcm")[:-1], "pcm"),
]


@pytest.mark.parametrize(("label", "make", "declared"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_clips_raise_the_spoken_reply(clips: Clips, label: str, make, declared: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AudioError) as caught:
        decode(make(clips), declared, max_seconds=60)
    assert str(caught.value) == NOT_HEARD == "没听清，请再说一遍或打字"
    assert caught.value.reason


@pytest.mark.parametrize("name", ["voice.amr", "voice.silk", "voice.mp3", "voice.m4a", "voice.wav", "voice.pcm"])
def test_over_long_clips_are_refused(clips: Clips, name: str) -> None:
    with pytest.raises(AudioError) as caught:
        decode(clips.read(name), name.split(".")[1], max_seconds=1)
    assert "longer than 1 s" in caught.value.reason


def test_a_crashing_silk_decoder_only_ends_its_child(clips: Clips, monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed SILK can abort the native decoder (heap corruption): it runs in a child process."""
    import sys

    real = audio.subprocess.run

    def aborting(command, **kwargs):  # type: ignore[no-untyped-def]
        if command[:3] == [sys.executable, "-m", "tongban.voice._silk"]:
            command = [sys.executable, "-c", "import os; os.abort()"]
        return real(command, **kwargs)

    monkeypatch.setattr(audio.subprocess, "run", aborting)
    with pytest.raises(AudioError) as caught:
        decode(clips.read("voice.silk"), "silk", max_seconds=60)
    assert "silk" in caught.value.reason


def test_a_hanging_decoder_times_out(clips: Clips, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    real = audio.subprocess.run
    monkeypatch.setattr(audio, "TIMEOUT_S", 0.5)

    def hanging(command, **kwargs):  # type: ignore[no-untyped-def]
        return real([sys.executable, "-c", "import time; time.sleep(30)"], **kwargs)

    monkeypatch.setattr(audio.subprocess, "run", hanging)
    with pytest.raises(AudioError) as caught:
        decode(clips.read("voice.mp3"), "mp3", max_seconds=60)
    assert "longer than" in caught.value.reason
