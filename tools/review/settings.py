"""Settings of the material review: how much of a file is read, at what size, with how many threads."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from tongban.memory.settings import TongbanSettings


class ReviewSettings(TongbanSettings):
    # pages of a PDF read (an ID card or 户口簿 scan is one or two; the rest are not read)
    review_max_pages: int = Field(default=4, ge=1, le=50)
    # onnxruntime threads per OCR call; 0 lets it use every core
    review_ocr_threads: int = Field(default=0, ge=0, le=64)
    # pixels the text detector is handed at most; its working memory is about 130 bytes a pixel
    review_ocr_max_pixels: int = Field(default=1_000_000, ge=250_000, le=4_000_000)


@lru_cache
def get_review_settings() -> ReviewSettings:
    return ReviewSettings()
