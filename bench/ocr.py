"""OCR benchmark for the material review: model load time and time per page.

    python bench/ocr.py [--repeat 3] [--threads 0]

Pages are the synthetic documents of the tests (tests/helpers/specimens.py: ID card both sides, 户口簿
首页 and a member page, an unrelated photo), sent as a phone would (JPEG) and once as a scanned
PDF, read by RapidOCR's PP-OCR ONNX models on this machine's CPU. Each page also goes through
recognition and the field checks, whose time is included in "review". Needs the ocr extra and
the fonts-wqy-zenhei font.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.specimens import APPLICANT, APPLICANT_ID, encode, font_missing, specimens  # noqa: E402
from tongban.tools.review.checks import Applicant  # noqa: E402
from tongban.tools.review.ocr import OcrEngine  # noqa: E402
from tongban.tools.review.review import review_reading  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="times each page is read")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: every core)")
    args = parser.parse_args()
    missing = font_missing()
    if missing:
        sys.exit(f"cannot draw the pages: {missing}")

    engine = OcrEngine(threads=args.threads)
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    pages = {name: encode(image) for name, image in specimens().items()}
    pages["hukou_first.pdf"] = encode(specimens()["hukou_first"], "PDF")
    applicant, today = Applicant(APPLICANT, APPLICANT_ID), dt.date(2026, 11, 24)

    first_call = time.perf_counter()
    engine.read(pages["id_front"])  # onnxruntime's first run allocates; reported apart
    first_s = time.perf_counter() - first_call
    ocr: dict[str, list[float]] = {name: [] for name in pages}
    review: list[float] = []
    kinds: dict[str, str | None] = {}
    for _ in range(args.repeat):
        for name, data in pages.items():
            begun = time.perf_counter()
            reading = engine.read(data)
            ocr[name].append(reading.pages[0].seconds)
            kinds[name] = review_reading(reading, applicant=applicant, today=today)["kind"]
            review.append(time.perf_counter() - begun)

    every = [s for seconds in ocr.values() for s in seconds]
    print(f"OCR: RapidOCR {_version()} (PP-OCRv4 det/rec ONNX, CPU), {os.cpu_count()} cores, "
          f"threads={args.threads or 'all'}, {len(pages)} pages x {args.repeat}")
    print(f"model load (first use in a process): {load_s:.2f} s; first page after load: {first_s:.2f} s")
    print(f"{'page':<20}{'kind':<24}{'p50 ms':>9}{'max ms':>9}")
    for name, seconds in ocr.items():
        print(f"{name:<20}{str(kinds[name]):<24}{statistics.median(seconds) * 1000:>9.0f}{max(seconds) * 1000:>9.0f}")
    print(f"OCR per page: p50 {statistics.median(every) * 1000:.0f} ms, p95 {percentile(every, 0.95) * 1000:.0f} ms; "
          f"whole review (decode + OCR + checks): p50 {statistics.median(review) * 1000:.0f} ms, "
          f"p95 {percentile(review, 0.95) * 1000:.0f} ms")


def _version() -> str:
    from importlib.metadata import version

    return version("rapidocr_onnxruntime")


if __name__ == "__main__":
    main()
