"""Any voice message a resident can send → 16 kHz mono 16-bit PCM, or a clear `AudioError`.

Each format goes to the tool that decodes it cleanly: AMR (公众号 voice) to Debian's `sox`,
which keeps the silence (DTX) frames ffmpeg drops; AAC, MP3 and the rest to `ffmpeg`; SILK
(WeChat's `\\x02#!SILK_V3`) to `pysilk` in a child process, because a malformed SILK file can
corrupt the decoder's heap and take the whole server down with it. Every decoder runs as a
subprocess without a shell, with a timeout, and stops after the clip limit, so a broken or
endless file costs a bounded amount of time and memory and never a crash.

The container is sniffed from magic bytes; the declared format only decides for headerless
raw PCM (the mini-program RecorderManager's `PCM`).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 16000  # what the recognisers expect
BYTES_PER_SECOND = RATE * 2
NOT_HEARD = "没听清，请再说一遍或打字"
MIN_SECONDS = 0.1
TOLERANCE_S = 0.5  # codec frames round a 60 s recording up a little
TIMEOUT_S = 30.0  # per decoder run; a 600 s clip decodes in a few seconds

OA_MAX_SECONDS = 60  # 公众号 voice messages
MINIPROGRAM_MAX_SECONDS = 600  # mini-program RecorderManager


class AudioError(ValueError):
    """Audio we cannot use. `str()` is what the resident is told; `reason` is for the logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(NOT_HEARD)
        self.reason = reason


@dataclass(frozen=True)
class Decoded:
    pcm: bytes  # 16 kHz mono s16le
    source: str  # the container that was actually found: amr, silk, wav, mp3, aac, …

    @property
    def seconds(self) -> float:
        return len(self.pcm) / BYTES_PER_SECOND


def sniff(audio: bytes) -> str | None:
    """The container from its magic bytes, or None (raw PCM has none)."""
    head = audio[:16]
    if head.startswith(b"#!AMR-WB\n"):
        return "amr-wb"
    if head.startswith(b"#!AMR\n"):
        return "amr"
    if head.startswith((b"\x02#!SILK_V3", b"#!SILK_V3")):
        return "silk"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head.startswith(b"ID3"):
        return "mp3"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "webm"
    if head.startswith(b"fLaC"):
        return "flac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0 and head[1] & 0x06 == 0:
        return "aac"  # ADTS: MPEG sync word with layer 00
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"  # an MPEG audio frame without an ID3 tag
    return None


def decode(audio: bytes, fmt: str = "", *, max_seconds: float, pcm_rate: int = RATE) -> Decoded:
    """Decode a voice message; raises `AudioError` for broken, empty or over-long clips.

    `fmt` is what the client declared; `pcm_rate` the sample rate of headerless PCM.
    """
    if not audio:
        raise AudioError("empty upload")
    found = sniff(audio)
    declared = (fmt or "").lower().lstrip(".")
    # an MPEG frame sync is two bytes a PCM sample can also start with: a PCM upload stays PCM
    weak = found in ("aac", "mp3") and not audio.startswith(b"ID3")
    if declared in ("pcm", "raw", "s16le") and (found is None or weak):
        pcm, source = _raw(audio, pcm_rate, max_seconds), "pcm"
    elif found in ("amr", "amr-wb"):
        pcm, source = _sox(audio, "amr-wb" if found == "amr-wb" else "amr-nb", max_seconds), found
    elif found == "silk":
        pcm, source = _silk(audio, max_seconds), found
    elif found == "wav":
        pcm, source = _wav(audio, max_seconds), found
    else:  # mp3, aac, m4a, ogg, webm, flac — or unknown: let ffmpeg probe the content
        pcm, source = _ffmpeg(audio, max_seconds), found or declared or "unknown"
    decoded = Decoded(pcm, source)
    if decoded.seconds > max_seconds + TOLERANCE_S:
        raise AudioError(f"clip longer than {max_seconds:g} s")
    if decoded.seconds < MIN_SECONDS:
        raise AudioError(f"no audio decoded from {source}")
    return decoded


def missing_tools() -> list[str]:
    """Decoders absent from this machine (checked once at start-up, so residents never see it)."""
    missing = [tool for tool in ("sox", "ffmpeg") if shutil.which(tool) is None]
    try:
        import pysilk  # noqa: F401
    except ImportError:
        missing.append("silk-python")
    return missing


# ---------------------------------------------------------------------------- decoders


def _raw(audio: bytes, rate: int, max_seconds: float) -> bytes:
    if len(audio) % 2:
        raise AudioError("raw PCM with an odd number of bytes")
    if rate == RATE:
        return audio[: _cap(max_seconds)]
    return _sox(audio, "raw", max_seconds, extra=["-r", str(rate), "-e", "signed", "-b", "16", "-c", "1"])


def _wav(audio: bytes, max_seconds: float) -> bytes:
    """16 kHz mono 16-bit WAV is read directly; other PCM WAV and float/µ-law go through sox.

    A header promising more frames than the file holds means the upload was cut off. Streaming
    writers that leave the size at 0 or 0xFFFFFFFF are not held to it.
    """
    try:
        with wave.open(io.BytesIO(audio)) as w:
            rate, channels, width, promised = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            frames = w.readframes(min(promised, int((max_seconds + 1) * rate)) if promised else -1)
    except (wave.Error, EOFError, ValueError) as exc:
        if "unknown format" in str(exc):
            return _sox(audio, "wav", max_seconds)
        raise AudioError(f"broken WAV: {str(exc) or type(exc).__name__}") from None
    got = len(frames) // max(1, channels * width)
    plausible = 0 < promised * channels * width < 0xFFFF0000
    if plausible and got < min(promised, (max_seconds + 1) * rate) * 0.98:
        raise AudioError(f"WAV cut off: {got} of {promised} frames")
    if (rate, channels, width) == (RATE, 1, 2):
        return frames
    return _sox(audio, "wav", max_seconds)


def _sox(audio: bytes, kind: str, max_seconds: float, extra: list[str] | None = None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="tongban-voice-") as folder:
        source = Path(folder) / "in"
        source.write_bytes(audio)
        command = [
            "sox", "-V1", *(extra or []), "-t", kind, str(source),
            "-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed", "-",
            "trim", "0", f"{max_seconds + 1:g}",
        ]
        return _run(command, "sox", max_seconds)


def _ffmpeg(audio: bytes, max_seconds: float) -> bytes:
    # a file, not a pipe: MP4/M4A keep their index (moov) at the end, which a pipe cannot seek to
    with tempfile.TemporaryDirectory(prefix="tongban-voice-") as folder:
        source = Path(folder) / "in"
        source.write_bytes(audio)
        command = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(source),
            "-t", f"{max_seconds + 1:g}", "-vn", "-ac", "1", "-ar", str(RATE),
            "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1",
        ]
        return _run(command, "ffmpeg", max_seconds)


def _silk(audio: bytes, max_seconds: float) -> bytes:
    """pysilk in a child process: a malformed file may abort the decoder, never this server."""
    command = [sys.executable, "-m", "tongban.voice._silk", str(RATE), str(_cap(max_seconds))]
    return _run(command, "silk", max_seconds, stdin=audio)


def _run(command: list[str], name: str, max_seconds: float, stdin: bytes | None = None) -> bytes:
    if shutil.which(command[0]) is None and not Path(command[0]).exists():
        raise AudioError(f"{name} is not installed")
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{name} took longer than {TIMEOUT_S:g} s") from None
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise AudioError(f"{name} could not decode it: {detail[0][:200]}")
    return done.stdout[: len(done.stdout) - len(done.stdout) % 2]


def _cap(max_seconds: float) -> int:
    """Bytes of PCM kept: the limit plus a second, so an over-long clip is noticed, not stored."""
    return int((max_seconds + 1) * BYTES_PER_SECOND)

