"""The printable PDF of a filled application form, with a Chinese font embedded.

PDF viewers on residents' phones and the halls' print stations rarely carry a CJK font, so
the font is embedded (as a subset: only the characters used). tongban ships no font: it uses
a system TrueType/TTC font, by default Debian's `fonts-wqy-zenhei`, or the file named by
`TONGBAN_FORM_FONT_PATH`; with neither present rendering stops with a clear error.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from tongban.memory.models import FormField
from tongban.tools.form_font import FontMissing, FormSettings, font_path


@lru_cache(maxsize=4)
def _register(path: Path) -> str:
    name = f"tongban-cjk-{path.stem}"
    try:
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
    except Exception as exc:  # reportlab refuses PostScript-outline (CFF) fonts and broken files
        raise FontMissing(f"{path} cannot be embedded ({exc}); use a TrueType font such as wqy-zenhei") from exc
    return name


def render(
    *, title: str, item_code: str, fields: list[FormField], values: dict[str, str], verified: bool,
    reference: str, created: dt.datetime, settings: FormSettings | None = None,
) -> bytes:
    """The form as PDF bytes: every field with its full value, for the applicant to sign."""
    font = _register(font_path(settings))
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=16, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=13, textColor=colors.HexColor("#555555"))
    heading = ParagraphStyle("title", parent=body, fontSize=18, leading=26, alignment=1, spaceAfter=4)
    rows = [[Paragraph(escape(f.label), body), Paragraph(escape(values.get(f.key) or ""), body)] for f in fields]
    table = Table(rows, colWidths=[48 * mm, 122 * mm])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    identity = ("申请人身份信息取自实名认证。" if verified
                else "申请人身份信息由本人在线填写，未经实名核验，请窗口工作人员当面核对身份证件。")
    story = [
        Paragraph(escape(title), heading),
        Paragraph(escape(f"事项编码：{item_code}　　预填编号：{reference}　　填写日期：{created:%Y年%m月%d日}"), small),
        Spacer(1, 5 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph("本人承诺以上信息真实、准确、完整，如有不实，愿承担相应法律责任。", body),
        Spacer(1, 10 * mm),
        Paragraph("申请人（签字）：____________________　　　日期：______年____月____日", body),
        Spacer(1, 8 * mm),
        Paragraph(escape(f"本表由“通办”政务服务助手根据申请人提供的信息预先填写。{identity}"
                         "请核对无误后签字，连同所需材料提交政务服务中心窗口。"), small),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, author="通办 tongban", leftMargin=20 * mm,
                      rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm).build(story)
    return out.getvalue()
