"""Which Chinese font a printed application form embeds, and the error when there is none.

Apart from the PDF writer (tools.form_pdf) so the routes that print forms can name the error
without loading reportlab, which loads only when a form is printed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from tongban.memory.settings import TongbanSettings

DEFAULT_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # Debian/Ubuntu: fonts-wqy-zenhei
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),  # Fedora, Alpine
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # fonts-noto-cjk (TrueType outlines only)
)


class FormSettings(TongbanSettings):
    """`TONGBAN_FORM_FONT_PATH`: a TrueType (.ttf) or collection (.ttc) with Chinese glyphs."""

    form_font_path: Path | None = Field(default=None)


class FontMissing(RuntimeError):
    """No Chinese font to embed: install fonts-wqy-zenhei or set TONGBAN_FORM_FONT_PATH."""


def font_path(settings: FormSettings | None = None) -> Path:
    configured = (settings or FormSettings()).form_font_path
    if configured is not None:
        if not configured.is_file():
            raise FontMissing(f"TONGBAN_FORM_FONT_PATH={configured} does not exist")
        return configured
    for candidate in DEFAULT_FONTS:
        if candidate.is_file():
            return candidate
    raise FontMissing(
        "no Chinese font for application forms: install fonts-wqy-zenhei "
        "(apt-get install fonts-wqy-zenhei) or set TONGBAN_FORM_FONT_PATH to a .ttf/.ttc file"
    )
