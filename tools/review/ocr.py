"""Text from photos and PDFs, read on this machine: no file ever leaves the government network.

RapidOCR (`rapidocr_onnxruntime`) ships the PP-OCR detection, direction and recognition ONNX
models inside its wheel, so nothing is fetched at run time. It is an optional extra
(`pip install 'tongban[ocr]'`), imported lazily; the model is built once per process and
files are read one at a time in the engine's own worker thread (`read_async`), off the event loop.

Memory: the text detector costs about 130 bytes a pixel of its input (600 MB at 2000×2000), so
what it is handed is bounded by a pixel count (`max_pixels`) as well as a longest side, and
RapidOCR's own enlarging of small images (to 736 px on the short side, and padding lines wider
than 8:1) is done here, within the same bounds: a 12 KB 300×6000 PNG would otherwise be enlarged
to 736×14720 and cost 1.5 GB. Decoding and reading take turns, never side by side.

PDFs: each page's text layer is used when it has one (an e-licence, a generated form); scanned
pages are rendered with pypdfium2 and read like photos. Only the first `max_pages` are read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tongban.tools.review.decode import DECODE_BUDGET, DECODERS, TooManyPixels, decode

log = logging.getLogger(__name__)

INSTALL_HINT = "material review needs the ocr extra: pip install 'tongban[ocr]'"
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
_MIN_TEXT_LAYER = 8  # characters: fewer means a scanned page, to be read by OCR
MAX_SIDE = 2000  # px: RapidOCR's own largest side
MAX_PIXELS = 1_000_000  # what the detector is handed: about 130 MB of its working memory (a 4:3
# photo is read at 1155×866, more than PaddleOCR's own default of 960 px on the longest side)
DETECT_MIN_SIDE = 736  # px: RapidOCR enlarges a smaller short side to this before detecting
LETTERBOX_RATIO = 8  # RapidOCR pads a line wider than this to a quarter of its width high


class OcrUnavailable(RuntimeError):
    """The ocr extra is not installed: files are kept for staff, unreviewed."""


class UnreadableDocument(ValueError):
    """Bytes that are not a readable JPEG, PNG or PDF; the message is for the resident."""


def sniff(data: bytes) -> str | None:
    """The content type from the file's first bytes (what it claims to be is not trusted)."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return PDF
    return None


@dataclass(frozen=True)
class Page:
    """One page as read: its lines top to bottom, how they were read, and how long it took."""

    lines: tuple[str, ...]
    source: str  # "ocr" or "text-layer"
    seconds: float

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Reading:
    pages: tuple[Page, ...]
    page_count: int  # pages in the file; more than len(pages) when the rest were not read

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.pages)


def normalise(text: str) -> str:
    """Full-width digits and punctuation folded (NFKC), spaces inside lines dropped."""
    text = unicodedata.normalize("NFKC", text)
    return "\n".join("".join(line.split()) for line in text.splitlines() if line.strip())


class OcrEngine:
    """RapidOCR loaded once, used from worker threads one page at a time."""

    def __init__(self, *, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS, threads: int = 0) -> None:
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.threads = threads  # 0: onnxruntime's default (every core)
        self.load_seconds: float | None = None
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr-read")

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> OcrEngine:
        with self._load_lock:
            if self._model is None:
                self._model = self._build()
        return self

    def _build(self) -> Any:
        started = time.perf_counter()
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise OcrUnavailable(INSTALL_HINT) from exc
        # the detector takes the image as `read_image` sized it: it never enlarges it again
        options: dict[str, Any] = {"print_verbose": False, "max_side_len": self.max_side,
                                   "det_limit_type": "max", "det_limit_side_len": self.max_side}
        if self.threads > 0:
            options.update(intra_op_num_threads=self.threads, inter_op_num_threads=1)
        model = RapidOCR(**options)
        self.load_seconds = time.perf_counter() - started
        log.info("ocr: loaded PP-OCR (RapidOCR) in %.2f s", self.load_seconds)
        return model

    # -------------------------------------------------------------- reading

    async def read_async(self, data: bytes, *, max_pages: int = 4) -> Reading:
        """Read in the engine's one worker thread: parallel uploads queue here, so a 160 MB decode
        never runs beside the detector's working memory, and one glibc arena (not one per
        thread, each keeping what it once held) serves them all."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, functools.partial(self.read, data, max_pages=max_pages))

    def read(self, data: bytes, *, max_pages: int = 4) -> Reading:
        """Read a JPEG, PNG or PDF; raises `UnreadableDocument` for anything else or broken files."""
        kind = sniff(data)
        if kind is None:
            raise UnreadableDocument("只能识别 JPG、PNG 图片或 PDF 文件")
        if kind == PDF:
            return self._read_pdf(data, max_pages)
        return Reading(pages=(self.read_image(_open_image(data, self.max_side, self.max_pixels)),), page_count=1)

    def read_image(self, image: Any) -> Page:
        """OCR one PIL image; lines ordered top to bottom, then left to right."""
        import numpy as np

        model = self.load()._model
        size = self.detector_size(image.width, image.height)
        if image.mode != "RGB":
            image = image.convert("RGB")
        if size != image.size:
            image = image.resize(size)
        started = time.perf_counter()
        with self._infer_lock:
            result, _elapsed = model(np.asarray(image))
        seconds = time.perf_counter() - started
        kept = [(box, str(text)) for box, text, score in (result or []) if text and float(score) >= 0.5]
        return Page(lines=_rows(kept), source="ocr", seconds=seconds)

    def detector_size(self, width: int, height: int) -> tuple[int, int]:
        """The size an image is read at: small ones enlarged as RapidOCR would, and every one
        within `max_side` and, counting the detector's padding of a wide line, `max_pixels`."""
        scale = max(1.0, DETECT_MIN_SIDE / max(1, min(width, height)))
        scale = min(scale, self.max_side / max(1, width, height))
        padded = width * max(height, width / 4) if width > LETTERBOX_RATIO * height else width * height
        scale = min(scale, math.sqrt(self.max_pixels / max(1.0, padded)))
        return max(1, int(width * scale)), max(1, int(height * scale))

    def _read_pdf(self, data: bytes, max_pages: int) -> Reading:
        try:
            import pypdfium2 as pdfium
        except ImportError as exc:
            raise OcrUnavailable(INSTALL_HINT) from exc
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise UnreadableDocument("PDF 文件无法打开（可能已损坏或设置了密码）") from exc
        try:
            count = len(document)
            if count == 0:
                raise UnreadableDocument("PDF 文件没有页面")
            pages = []
            for index in range(min(count, max_pages)):
                page = document[index]
                started = time.perf_counter()
                layer = page.get_textpage().get_text_range()
                if len("".join(layer.split())) >= _MIN_TEXT_LAYER:
                    lines = tuple(line for line in layer.splitlines() if line.strip())
                    pages.append(Page(lines=lines, source="text-layer", seconds=time.perf_counter() - started))
                    continue
                width, height = page.get_size()
                scale = min(2.0, self.max_side / max(width, height, 1.0),
                            math.sqrt(self.max_pixels / max(width * height, 1.0)))
                width, height = round(width * scale), round(height * scale)
                with DECODERS, DECODE_BUDGET.hold(max(1, width * height)):
                    image = page.render(scale=scale).to_pil().convert("RGB")
                pages.append(self.read_image(image))
            return Reading(pages=tuple(pages), page_count=count)
        finally:
            document.close()


def _open_image(data: bytes, max_side: int, max_pixels: int) -> Any:
    """Decode a photo fully (a truncated file fails here, not later), reduced, upright (EXIF),
    within the process's decode budget (`tools.review.decode`)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:  # Pillow comes with the ocr extra
        raise OcrUnavailable(INSTALL_HINT) from exc
    try:
        return decode(data, max_side=max_side, max_pixels=max_pixels)
    except TooManyPixels as exc:
        raise UnreadableDocument("图片尺寸过大，请压缩后再上传") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnreadableDocument("图片已损坏或格式不正确，无法读取") from exc


def _rows(boxes: list[tuple[list[list[float]], str]]) -> tuple[str, ...]:
    """Text boxes joined into lines: boxes whose vertical centres lie within half a box height of
    a row's first box share that row, left to right, so a label and its value read as one line."""
    placed = []
    for box, text in boxes:
        ys, xs = [p[1] for p in box], [p[0] for p in box]
        placed.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text))
    placed.sort()
    rows: list[list[tuple[float, float, float, str]]] = []
    for item in placed:
        if rows and abs(item[0] - rows[-1][0][0]) <= max(4.0, min(item[1], rows[-1][0][1]) / 2):
            rows[-1].append(item)
        else:
            rows.append([item])
    return tuple(" ".join(t for *_, t in sorted(row, key=lambda i: i[2])) for row in rows)


_ENGINE: OcrEngine | None = None
_ENGINE_LOCK = threading.Lock()


def shared_engine() -> OcrEngine:
    """The process's one engine (the model is built on first use, not here)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            from tongban.tools.review.settings import get_review_settings

            settings = get_review_settings()
            _ENGINE = OcrEngine(max_pixels=settings.review_ocr_max_pixels, threads=settings.review_ocr_threads)
        return _ENGINE
