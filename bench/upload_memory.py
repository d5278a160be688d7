"""Peak memory of parallel decompression bombs through the material review (goal: < 300 MB).

    python bench/upload_memory.py [--parallel 10] [--side 6300] [--no-ocr]

Each bomb is a small all-white PNG (about 131 KB at 6300×6300, 40 million pixels) — what the
probe of 6 December 2026 sent six at a time to /api/web/upload. All of them go at once through
`review_file`, the coroutine the upload handler awaits after reading the body: decode, reduce,
OCR (the real PP-OCR models unless --no-ocr), recognition and checks. The OCR model is loaded
and one bomb read before measuring, so the figure is what the bombs add, not start-up. The peak
is the kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs), Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.tools.review.checks import Applicant  # noqa: E402
from tongban.tools.review.decode import DECODE_BUDGET  # noqa: E402
from tongban.tools.review.ocr import OcrEngine  # noqa: E402
from tongban.tools.review.review import review_file  # noqa: E402

MB = 2**20


def status(field: str) -> int:
    with open("/proc/self/status") as rows:
        for row in rows:
            if row.startswith(field):
                return int(row.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def bomb(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--side", type=int, default=6300)
    parser.add_argument("--no-ocr", action="store_true", help="decode only (a stand-in model that reads nothing)")
    args = parser.parse_args()

    data = bomb(args.side)
    engine = OcrEngine()
    if args.no_ocr:
        engine._model = lambda array: ([], 0.0)
    applicant = Applicant()
    today = dt.date(2026, 12, 6)
    await review_file(engine, data, applicant=applicant, today=today)  # warm: model loaded, allocator primed
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status("VmRSS")
    started = time.perf_counter()
    await asyncio.gather(*(review_file(engine, data, applicant=applicant, today=today) for _ in range(args.parallel)))
    seconds = time.perf_counter() - started
    growth = status("VmHWM") - before
    print(f"bombs: {args.parallel} × {len(data) / 1024:.0f} KB PNG, {args.side}×{args.side} "
          f"({args.side * args.side / 1e6:.1f} Mpx), ocr={'off' if args.no_ocr else 'PP-OCR'}")
    print(f"rss before: {before / MB:.0f} MB; peak growth: {growth / MB:.0f} MB (goal < 300 MB); "
          f"after: {status('VmRSS') / MB:.0f} MB")
    print(f"decode budget peak: {DECODE_BUDGET.peak / 1e6:.1f} Mpx of {DECODE_BUDGET.limit / 1e6:.0f}; "
          f"wall: {seconds:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
