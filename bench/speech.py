"""Voice benchmark: real-time factor of decode + recognition, and queueing under concurrency.

    python bench/speech.py                                   # tiny random models (~1 minute)
    python bench/speech.py --model-dir DIR [--mandarin-dir DIR --vad-dir DIR --punc-dir DIR]

Clips are espeak-ng speech repeated to 5, 30 and 60 s and encoded as 公众号 AMR, so decoding
is part of the cost. Without --model-dir the models are TINY RANDOMLY INITIALISED FunASR
models (~100k parameters): they exercise FunASR's real code path but are ~2000x smaller than
SenseVoiceSmall / Paraformer-large, so their RTF says nothing about production speed.
Needs sox, ffmpeg, espeak-ng and the voice extra.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.voice.pipeline import VoicePipeline  # noqa: E402
from tongban.voice.recognizer import FunASRRecognizer, Recognizer, RoutedRecognizer  # noqa: E402

SENTENCE = "ni3 hao3, wo3 xiang3 ban4 shen1 fen4 zheng4. she4 bao3 ka3 zai4 na3 li3 ban4? ming2 tian1 shang4 wu3 ke3 yi3 yu4 yue1 ma?"


def make_clip(folder: Path, seconds: int) -> bytes:
    """espeak-ng speech, repeated and cut to `seconds`, as 8 kHz AMR-NB like a 公众号 voice message."""
    speech = folder / "speech.wav"
    if not speech.exists():
        subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-w", str(speech), SENTENCE], check=True)
    clip = folder / f"clip{seconds}.amr"
    repeats = seconds // 4 + 1
    subprocess.run(["sox", *[str(speech)] * repeats, "-r", "8000", "-c", "1", "-t", "amr-nb", str(clip),
                    "trim", "0", str(seconds)], check=True)
    return clip.read_bytes()


def build(args: argparse.Namespace, folder: Path) -> tuple[Recognizer, str]:
    threads = args.threads
    if args.model_dir:
        main = FunASRRecognizer(args.model_dir, vad_dir=args.vad_dir, punc_dir=args.punc_dir, threads=threads)
        label = f"{main.kind} from {args.model_dir}"
        if args.mandarin_dir:
            mandarin = FunASRRecognizer(args.mandarin_dir, vad_dir=args.vad_dir, punc_dir=args.punc_dir, threads=threads)
            return RoutedRecognizer(main.load(), mandarin.load()), label + f" + paraformer from {args.mandarin_dir}"
        return main.load(), label
    from tongban.voice.tiny import build_sensevoice

    tiny = FunASRRecognizer(build_sensevoice(folder / "tiny-sensevoice"), threads=threads).load()
    return tiny, "TINY RANDOM SenseVoiceSmall-shaped model (~100k parameters) — NOT production speed"


async def rtf(pipeline: VoicePipeline, clips: dict[int, bytes], rounds: int) -> None:
    print("\nreal-time factor (decode + recognition; one clip at a time; lower is faster)")
    print(f"{'clip':>6} {'decode s':>9} {'recognise s':>12} {'total s':>8} {'RTF':>7}")
    await pipeline.transcribe_detailed(clips[5], "amr", max_seconds=60)  # warm-up
    for seconds, audio in clips.items():
        runs = [await pipeline.transcribe_detailed(audio, "amr", max_seconds=60) for _ in range(rounds)]
        decode = statistics.median(r.decode_s for r in runs)
        recognise = statistics.median(r.recognize_s for r in runs)
        total = decode + recognise
        print(f"{seconds:>5}s {decode:>9.3f} {recognise:>12.3f} {total:>8.3f} {total / runs[0].audio_seconds:>7.3f}")


async def queueing(pipeline: VoicePipeline, audio: bytes, count: int) -> None:
    print(f"\nqueueing: {count} voice messages (5 s each) arrive at once; {pipeline.workers} workers")
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    results = await asyncio.gather(*(pipeline.transcribe_detailed(audio, "amr", max_seconds=60) for _ in range(count)))
    wall = time.perf_counter() - started
    stop.set()
    await ticking
    waits = sorted(r.queued_s for r in results)
    latency = sorted(r.queued_s + r.decode_s + r.recognize_s for r in results)
    print(f"  queue wait   median {statistics.median(waits):.3f} s, max {waits[-1]:.3f} s")
    print(f"  per message  median {statistics.median(latency):.3f} s, max {latency[-1]:.3f} s (wall {wall:.3f} s)")
    print(f"  event loop   longest extra delay of a 10 ms timer: {max(gaps) * 1000:.1f} ms")


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tongban-bench-voice-") as name:
        folder = Path(name)
        started = time.perf_counter()
        recognizer, label = build(args, folder)
        print(f"model: {label}")
        print(f"CPU: {os.cpu_count()} cores, torch threads {args.threads}; model ready in {time.perf_counter() - started:.1f} s "
              "(includes importing funasr)")
        clips = {seconds: make_clip(folder, seconds) for seconds in (5, 30, 60)}
        pipeline = VoicePipeline(recognizer, workers=args.workers, max_queue=args.concurrent)
        try:
            await rtf(pipeline, clips, args.rounds)
            await queueing(pipeline, clips[5], args.concurrent)
        finally:
            await pipeline.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, help="SenseVoiceSmall or Paraformer-zh directory")
    parser.add_argument("--mandarin-dir", type=Path, help="Paraformer-zh re-reading Mandarin after SenseVoice")
    parser.add_argument("--vad-dir", type=Path)
    parser.add_argument("--punc-dir", type=Path)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
