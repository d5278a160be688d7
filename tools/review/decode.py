"""Photos decoded with bounded memory: a few small files must not take the server down.

A 131 KB all-white PNG can hold 40 million pixels, 160 MB once decoded (Pillow keeps RGB in
four bytes a pixel) and as much again for every full-size copy. So decoding is bounded three ways:

- a pixel budget shared by the whole process (`DECODE_BUDGET`): a decode waits until the
  pixels already decoding elsewhere plus its own fit, so ten bombs decode one after another
  rather than all at once;
- a bounded semaphore (`DECODERS`) caps how many decodes run at all;
- large allocations go back to the system: Pillow allocates images in blocks, 16 MB by default,
  which glibc serves from per-thread arenas and keeps after the image is freed; blocks of
  `BLOCK_SIZE` are above glibc's largest mmap threshold (32 MB), so each is unmapped when freed;
- reduce first, convert last: JPEGs are decoded straight at a reduced scale (`Image.draft`),
  other images are reduced (`Image.reduce`) before any mode conversion or copy, towards both the
  longest side and the pixel count the reader will use (`fit`), so no full-size copy is made.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Iterator
from typing import Any

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is already more than any phone takes
BYTES_PER_PIXEL = 4  # how Pillow holds RGB, RGBA and CMYK
BLOCK_SIZE = 64 * 2**20
_NEEDS_L_TO_REDUCE = {"1", "P", "I;16", "I;16B", "I;16L", "I;16N"}


class PixelBudget:
    """At most `limit` pixels decoded at once across threads; a bigger request is refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.peak = 0
        self._free = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        if pixels > self.limit:
            raise ValueError(f"{pixels} pixels exceed the decode budget of {self.limit}")
        with self._free:
            self._free.wait_for(lambda: self.in_use + pixels <= self.limit)
            self.in_use += pixels
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._free:
                self.in_use -= pixels
                self._free.notify_all()


DECODE_BUDGET = PixelBudget(MAX_PIXELS)
DECODERS = threading.BoundedSemaphore(2)


def decode(data: bytes, *, max_side: int, max_pixels: int | None = None, budget: PixelBudget | None = None) -> Any:
    """An upright RGB image within `max_side` a side and `max_pixels` in all, decoded within the budget.

    Raises `TooManyPixels` for an image over `MAX_PIXELS` (checked from the header, before
    decoding) and Pillow's own errors for broken files.
    """
    from PIL import Image, ImageOps

    budget = budget or DECODE_BUDGET
    if Image.core.get_block_size() < BLOCK_SIZE:
        Image.core.set_block_size(BLOCK_SIZE)
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > MAX_PIXELS:
        raise TooManyPixels(image.width, image.height)
    target = fit(image.width, image.height, max_side=max_side, max_pixels=max_pixels)
    if image.format == "JPEG":
        image.draft("RGB", target)  # DCT scaling: decoded at 1/2, 1/4 or 1/8 size, no smaller than target
    with DECODERS, budget.hold(image.width * image.height):
        image.load()
        image = _reduced(image, target)
        image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = image.convert("RGB")
        return bounded(image, max_side, max_pixels)


class TooManyPixels(ValueError):
    def __init__(self, width: int, height: int) -> None:
        super().__init__(f"{width}x{height} is over {MAX_PIXELS} pixels")


def fit(width: int, height: int, *, max_side: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The size an image is brought down to: no side over `max_side`, no more than `max_pixels`
    in all (when given), its proportions kept; never enlarged."""
    scale = min(1.0, max_side / max(width, height, 1))
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / max(1, width * height)))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _reduced(image: Any, target: tuple[int, int]) -> Any:
    """Shrunk by a whole factor towards `target` before anything copies it at full size."""
    factor = min(image.width // target[0], image.height // target[1])
    if factor < 2:
        return image
    if image.mode in _NEEDS_L_TO_REDUCE:
        image = image.convert("L")  # one byte a pixel; reduce() does not take these modes
    return image.reduce(factor)


def bounded(image: Any, max_side: int, max_pixels: int | None = None) -> Any:
    """`image` itself when it is within bounds, else a copy resized to `fit` them."""
    size = fit(image.width, image.height, max_side=max_side, max_pixels=max_pixels)
    return image if size == image.size else image.resize(size)
