"""Decompression bombs: small files that decode to huge images must not exhaust the server.

The memory test runs in a child process so its peak resident size (VmHWM) is its own: several
131 KB all-white 6300×6300 PNGs read at once (as parallel uploads are) must not add more than a
single bounded decode does.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.helpers.specimens import blank_png
from tongban.tools.review import ocr
from tongban.tools.review.decode import MAX_PIXELS, PixelBudget, TooManyPixels, decode

pytest.importorskip("PIL")

_CHILD = textwrap.dedent("""
    import io, sys, threading
    from PIL import Image
    from tongban.tools.review.ocr import OcrEngine

    def rss(field):
        for row in open("/proc/self/status"):
            if row.startswith(field):
                return int(row.split()[1]) * 1024

    buffer = io.BytesIO()
    Image.new("RGB", (6300, 6300), "white").save(buffer, "PNG", optimize=True)
    bomb = buffer.getvalue()
    engine = OcrEngine()
    engine._model = lambda array: ([], 0.0)  # only decoding is measured here, not recognition
    engine.read(bomb)  # warm up: libraries loaded, allocator primed
    open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from now
    before = rss("VmRSS")
    threads = [threading.Thread(target=engine.read, args=(bomb,)) for _ in range(int(sys.argv[1]))]
    for t in threads: t.start()
    for t in threads: t.join()
    print(len(bomb), rss("VmHWM") - before)
""")


@pytest.mark.slow  # six 40-megapixel decodes in a child process: ~4 s of CPU
def test_parallel_decompression_bombs_stay_within_a_bounded_peak() -> None:
    done = subprocess.run([sys.executable, "-c", _CHILD, "5"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    size, growth = map(int, done.stdout.split())
    assert size < 200_000  # a small file…
    assert growth < 300 * 2**20, f"peak grew by {growth / 2**20:.0f} MB"  # …that may not take a lot


def test_the_pixel_budget_makes_decodes_wait_their_turn() -> None:
    budget = PixelBudget(100)
    order: list[str] = []
    with budget.hold(80):
        waiter = threading.Thread(target=lambda: (budget.hold(50).__enter__(), order.append("second")))
        waiter.start()
        time.sleep(0.2)
        order.append("first done")
    waiter.join(timeout=5)
    assert order == ["first done", "second"]
    with pytest.raises(ValueError):
        budget.hold(101).__enter__()


def test_images_come_out_reduced_rgb_and_over_the_limit_is_refused() -> None:
    from PIL import Image

    for mode, fmt in (("1", "PNG"), ("P", "PNG"), ("L", "PNG"), ("RGB", "JPEG"), ("RGBA", "PNG")):
        buffer = io.BytesIO()
        Image.new(mode, (4500, 3000)).save(buffer, fmt)
        image = decode(buffer.getvalue(), max_side=2000)
        assert image.mode == "RGB" and max(image.size) <= 2000, (mode, image.size)
        assert image.size[0] / image.size[1] == pytest.approx(1.5, rel=0.02)
    too_big = io.BytesIO()
    Image.new("1", (8000, 5001)).save(too_big, "PNG")
    assert MAX_PIXELS < 8000 * 5001
    with pytest.raises(TooManyPixels):
        decode(too_big.getvalue(), max_side=2000)


async def test_uploads_are_decoded_and_read_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode (up to 160 MB) never runs beside the detector (up to 130 MB) or another decode."""
    busy, peak = 0, 0
    lock = threading.Lock()

    def working(step):  # type: ignore[no-untyped-def]
        def run(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal busy, peak
            with lock:
                busy += 1
                peak = max(peak, busy)
            time.sleep(0.05)
            try:
                return step(*args, **kwargs)
            finally:
                with lock:
                    busy -= 1
        return run

    monkeypatch.setattr(ocr, "decode", working(ocr.decode))
    engine = ocr.OcrEngine()
    engine._model = working(lambda array: ([], 0.0))
    await asyncio.gather(*(engine.read_async(blank_png(1200, 900)) for _ in range(4)))
    assert peak == 1


def test_a_pixel_budget_brings_the_decoded_image_down_to_it() -> None:
    from PIL import Image

    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        Image.new("RGB", (4000, 3000), "white").save(buffer, fmt)
        image = decode(buffer.getvalue(), max_side=2000, max_pixels=1_000_000)
        assert image.width * image.height <= 1_000_000 and image.size[0] / image.size[1] == pytest.approx(4 / 3, rel=0.02)
