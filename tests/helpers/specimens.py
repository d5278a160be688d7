"""Synthetic document photos for the material review: ID cards, 户口簿 pages, an unrelated photo.

Drawn with Pillow and a real Chinese font (Debian's fonts-wqy-zenhei), laid out like the real
documents (labels and values, table rules, a red stamp), so OCR reads them as it would a photo.
The people and numbers are invented; ID numbers carry a correct GB 11643 check digit.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from stdnum.cn import ric

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
INK, LABEL, PAPER = (25, 25, 30), (40, 80, 140), (236, 240, 244)


def font_missing() -> str | None:
    """Why specimens cannot be drawn here, or None."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return "Pillow is not installed"
    if not FONT.is_file():
        return f"the Chinese font {FONT} is missing (apt-get install fonts-wqy-zenhei)"
    return None


def id_number(prefix17: str) -> str:
    return prefix17 + ric.calc_check_digit(prefix17 + "0")  # stdnum reads the first 17 of 18


def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT), size)


def _canvas(width: int, height: int, colour: tuple[int, int, int] = PAPER):  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), colour)
    return image, ImageDraw.Draw(image)


def _stamp(draw, centre: tuple[int, int], radius: int, text: str) -> None:  # type: ignore[no-untyped-def]
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=(200, 40, 40), width=4)
    draw.text((x, y), text, font=_font(radius // 3), fill=(200, 40, 40), anchor="mm")


def id_card_front(*, name: str, sex: str, nation: str, birth: tuple[int, int, int], address: str, number: str):  # type: ignore[no-untyped-def]
    """The portrait side: 姓名 性别 民族 出生 住址 公民身份号码, a grey photo on the right."""
    image, draw = _canvas(856, 540)
    label, value = _font(26), _font(30)
    draw.rectangle((600, 70, 800, 330), fill=(200, 204, 210))  # the portrait
    rows = [("姓名", name, 60), ("性别", sex, 125), ("出生", f"{birth[0]}年{birth[1]}月{birth[2]}日", 190)]
    for key, text, y in rows:
        draw.text((50, y), key, font=label, fill=LABEL)
        draw.text((140, y - 2), text, font=value, fill=INK)
    draw.text((300, 125), "民族", font=label, fill=LABEL)
    draw.text((380, 123), nation, font=value, fill=INK)
    draw.text((50, 255), "住址", font=label, fill=LABEL)
    for index, start in enumerate(range(0, len(address), 14)):
        draw.text((140, 253 + index * 42), address[start:start + 14], font=value, fill=INK)
    draw.text((50, 440), "公民身份号码", font=label, fill=LABEL)
    draw.text((250, 436), number, font=_font(34), fill=INK)
    return image


def id_card_back(*, authority: str, validity: str):  # type: ignore[no-untyped-def]
    """The national-emblem side: 中华人民共和国 居民身份证, 签发机关 and 有效期限."""
    image, draw = _canvas(856, 540)
    draw.ellipse((60, 50, 200, 190), outline=(200, 40, 40), width=6)  # the emblem's place
    draw.text((520, 100), "中华人民共和国", font=_font(44), fill=INK, anchor="mm")
    draw.text((520, 190), "居民身份证", font=_font(64), fill=INK, anchor="mm")
    draw.text((150, 360), "签发机关", font=_font(26), fill=LABEL)
    draw.text((300, 356), authority, font=_font(30), fill=INK)
    draw.text((150, 430), "有效期限", font=_font(26), fill=LABEL)
    draw.text((300, 426), validity, font=_font(30), fill=INK)
    return image


def _table(draw, cells: list[tuple[str, str]], *, top: int, columns: int, width: int) -> int:  # type: ignore[no-untyped-def]
    """Label | value cells in a ruled grid; returns the bottom edge."""
    cell_w, cell_h = (width - 80) // columns, 70
    for index, (key, text) in enumerate(cells):
        row, column = divmod(index, columns)
        x, y = 40 + column * cell_w, top + row * cell_h
        draw.rectangle((x, y, x + cell_w, y + cell_h), outline=(90, 90, 90), width=2)
        draw.text((x + 12, y + 20), key, font=_font(24), fill=LABEL)
        draw.text((x + 24 + len(key) * 25, y + 18), text, font=_font(28), fill=INK)
    rows = (len(cells) + columns - 1) // columns
    return top + rows * cell_h


def hukou_first_page(*, householder: str, household_no: str, address: str):  # type: ignore[no-untyped-def]
    """The 户口簿 首页 (户主页): 户别, 户主姓名, 户号, 住址, the police station's stamp."""
    image, draw = _canvas(1000, 700, (246, 242, 232))
    draw.text((500, 60), "居民户口簿", font=_font(48), fill=INK, anchor="mm")
    bottom = _table(draw, [("户别", "家庭户"), ("户主姓名", householder), ("户号", household_no), ("", "")],
                    top=130, columns=2, width=1000)
    draw.rectangle((40, bottom, 960, bottom + 70), outline=(90, 90, 90), width=2)
    draw.text((52, bottom + 20), "住址", font=_font(24), fill=LABEL)
    draw.text((120, bottom + 18), address, font=_font(28), fill=INK)
    draw.text((60, bottom + 130), "登记机关 南宁市公安局青秀分局", font=_font(26), fill=INK)
    draw.text((60, bottom + 190), "承办人签章", font=_font(26), fill=INK)
    _stamp(draw, (780, bottom + 170), 90, "户口专用章")
    return image


def hukou_member_page(*, name: str, sex: str, number: str, birth: str):  # type: ignore[no-untyped-def]
    """A 常住人口登记卡 page: one member's details — part of the 户口簿 but not its 首页."""
    image, draw = _canvas(1000, 900, (246, 242, 232))
    draw.text((500, 60), "常住人口登记卡", font=_font(44), fill=INK, anchor="mm")
    cells = [("姓名", name), ("户主或与户主关系", "本人"), ("曾用名", "无"), ("性别", sex), ("出生地", "广西南宁"),
             ("民族", "壮"), ("籍贯", "广西武鸣"), ("出生日期", birth), ("宗教信仰", "无"), ("文化程度", "大学")]
    bottom = _table(draw, cells, top=120, columns=2, width=1000)
    draw.rectangle((40, bottom, 960, bottom + 70), outline=(90, 90, 90), width=2)
    draw.text((52, bottom + 20), "公民身份号码", font=_font(24), fill=LABEL)
    draw.text((240, bottom + 16), number, font=_font(32), fill=INK)
    return image


def landscape():  # type: ignore[no-untyped-def]
    """An unrelated photo: sky, sun, hills and grain; no text at all."""
    image, draw = _canvas(900, 600, (140, 190, 235))
    rng = random.Random(7)
    for y in range(0, 300, 4):
        shade = 235 - y // 6
        draw.rectangle((0, y, 900, y + 4), fill=(120 + y // 10, 180, shade))
    draw.ellipse((650, 60, 760, 170), fill=(250, 220, 120))
    draw.polygon([(0, 420), (200, 250), (420, 400), (640, 230), (900, 420), (900, 600), (0, 600)], fill=(70, 130, 80))
    draw.polygon([(0, 600), (0, 500), (300, 430), (600, 520), (900, 470), (900, 600)], fill=(50, 105, 60))
    pixels = image.load()
    for _ in range(40000):
        x, y = rng.randrange(900), rng.randrange(600)
        r, g, b = pixels[x, y]
        jitter = rng.randint(-25, 25)
        pixels[x, y] = (max(0, min(255, r + jitter)), max(0, min(255, g + jitter)), max(0, min(255, b + jitter)))
    return image


def phone_photo(page, *, size: tuple[int, int] = (4032, 3024), scale: float = 2.0):  # type: ignore[no-untyped-def]
    """`page` as a 12-megapixel phone photo: enlarged `scale` times on a grey table top."""
    from PIL import Image

    photo = Image.new("RGB", size, (120, 118, 110))
    enlarged = page.resize((round(page.width * scale), round(page.height * scale)))
    photo.paste(enlarged, ((size[0] - enlarged.width) // 2, (size[1] - enlarged.height) // 2))
    return photo


def blank_png(width: int, height: int) -> bytes:
    """An all-white PNG: a few kilobytes however many pixels it holds (a decompression bomb)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def encode(image, fmt: str = "JPEG") -> bytes:  # type: ignore[no-untyped-def]
    """The bytes a phone would send (JPEG), or a PNG, or a scanned single-page PDF (no text layer)."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=88)
    else:
        image.save(buffer, fmt, **({"resolution": 150.0} if fmt == "PDF" else {}))
    return buffer.getvalue()


def text_pdf(lines: list[str]) -> bytes:
    """A generated PDF (an e-licence, a form) with a text layer and no picture: Adobe's predefined
    STSong-Light font with the UniGB-UCS2-H encoding, so no font is embedded."""
    content = ["BT", "/F1 18 Tf", "50 780 Td", "24 TL"]
    for line in lines:
        content.append("<" + line.encode("utf-16-be").hex().upper() + "> Tj T*")
    content.append("ET")
    stream = "\n".join(content).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [5 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> /FontDescriptor 7 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 80 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# the people on the specimens
APPLICANT = "覃海燕"
APPLICANT_ID = id_number("45010319900520612")
OTHER = "黄志强"
OTHER_ID = id_number("45010219850311403")


def specimens() -> dict[str, object]:
    """Every page the tests and the bench read, by name."""
    address = "广西壮族自治区南宁市青秀区民族大道100号"
    return {
        "id_front": id_card_front(name=APPLICANT, sex="女", nation="壮", birth=(1990, 5, 20), address=address,
                                  number=APPLICANT_ID),
        "id_front_other": id_card_front(name=OTHER, sex="男", nation="汉", birth=(1985, 3, 11), address=address,
                                        number=OTHER_ID),
        "id_back_valid": id_card_back(authority="南宁市公安局青秀分局", validity="2016.05.20-2036.05.20"),
        "id_back_expired": id_card_back(authority="南宁市公安局青秀分局", validity="2005.03.01-2025.03.01"),
        "id_back_long_term": id_card_back(authority="南宁市公安局青秀分局", validity="2012.08.01-长期"),
        "hukou_first": hukou_first_page(householder=APPLICANT, household_no="450103012345", address=address),
        "hukou_member": hukou_member_page(name=APPLICANT, sex="女", number=APPLICANT_ID, birth="1990年5月20日"),
        "landscape": landscape(),
    }
