"""Reading the files operators already have into knowledge-base entries.

FAQ sheets (.xlsx, .csv) and JSON Lines give one entry per row, keyed by their id column or
by file and row; documents (.pdf, .docx, .md, .html, .txt) give one entry per chunk of a page
or section, keyed by file and position. Headers may be Chinese or English. Rows that cannot
be used are reported with their line (or page) number; the rest are kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tongban.memory.knowledge import EntryIn
from tongban.tools.kb.chunks import chunk

KINDS = ("csv", "xlsx", "jsonl", "pdf", "docx", "md", "html", "txt")
_SUFFIXES = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".pdf": "pdf", ".docx": "docx", ".md": "md", ".markdown": "md", ".html": "html",
             ".htm": "html", ".txt": "txt"}
# header names operators use, compared after lower-casing and dropping spaces and punctuation
COLUMNS: dict[str, tuple[str, ...]] = {
    "question": ("问题", "问", "标题", "咨询问题", "常见问题", "提问", "诉求", "question", "q", "title"),
    "answer": ("答案", "答", "回答", "答复", "解答", "回复", "内容", "答复内容", "知识内容", "正文",
               "answer", "a", "text", "reply", "content", "body"),
    "id": ("编号", "序号", "知识编号", "知识id", "id", "key", "no", "number"),
    "department": ("处理单位", "部门", "单位", "责任单位", "主管部门", "承办单位", "所属部门",
                   "department", "dept", "agency"),
    "source": ("来源", "出处", "依据", "政策依据", "政策文件", "链接", "网址", "source", "reference", "url", "link"),
    "keywords": ("关键字", "关键词", "标签", "keywords", "keyword", "tags"),
}


class UnreadableFile(ValueError):
    """The whole file cannot be used (unknown kind, no question/answer columns, broken bytes)."""


@dataclass
class Parsed:
    kind: str
    entries: list[EntryIn] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # where each entry came from
    errors: list[tuple[int, str]] = field(default_factory=list)
    sha256: str = ""

    def add(self, line: int, entry: EntryIn) -> None:
        self.entries.append(entry)
        self.lines.append(line)


def kind_of(name: str) -> str:
    kind = _SUFFIXES.get(Path(name).suffix.lower())
    if kind is None:
        raise UnreadableFile(f"不支持的文件类型 {Path(name).suffix or '（无扩展名）'}：可导入 " + "、".join(KINDS))
    return kind


def read_file(path: Path) -> Parsed:
    return parse(Path(path).name, Path(path).read_bytes())


def parse(name: str, data: bytes) -> Parsed:
    """Entries of one file, from its name (which says the kind) and its bytes."""
    kind = kind_of(name)
    stem = _stem(name)
    parsed = Parsed(kind=kind, sha256=hashlib.sha256(data).hexdigest())
    reader = {"csv": _csv, "xlsx": _xlsx, "jsonl": _jsonl, "pdf": _pdf, "docx": _docx, "md": _markdown,
              "html": _html, "txt": _txt}[kind]
    reader(data, stem, parsed)
    return parsed


def _stem(name: str) -> str:
    stem = unicodedata.normalize("NFKC", Path(name).stem)
    return re.sub(r"[^\w\u4e00-\u9fff-]+", "-", stem).strip("-")[:80] or "kb"


# ---------------------------------------------------------------- sheets


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); Chinese Excel saves CSV as GB18030."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("文件编码无法识别：请另存为 UTF-8")


def _header_key(cell: Any) -> str:
    return re.sub(r"[\s_\-:：()（）*]+", "", unicodedata.normalize("NFKC", str(cell or ""))).lower()


def columns(header: list[Any]) -> dict[str, int]:
    """Which column holds what; the first match wins."""
    found: dict[str, int] = {}
    keys = [_header_key(h) for h in header]
    for role, names in COLUMNS.items():
        for index, key in enumerate(keys):
            if key in names and index not in found.values():
                found.setdefault(role, index)
    return found


def _row_entry(cells: list[Any], where: dict[str, int], stem: str, line: int, locator: str) -> EntryIn | str:
    def cell(role: str) -> str:
        index = where.get(role)
        if index is None or index >= len(cells) or cells[index] is None:
            return ""
        value = cells[index]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    answer = cell("answer")
    if not answer:
        return "答案为空"
    key = cell("id") or f"{stem}-{line}"
    keywords = "、".join(k for k in re.split(r"[;；,，、|\s]+", cell("keywords")) if k)
    return EntryIn(key=key, text=answer, title=cell("question"), department=cell("department"),
                   origin=cell("source"), keywords=keywords, locator=locator)


def _sheet(rows: Iterator[tuple[int, list[Any]]], stem: str, parsed: Parsed, prefix: str = "") -> bool:
    """Rows of one table: the header is the first row naming an answer column."""
    where: dict[str, int] | None = None
    for line, cells in rows:
        if where is None:
            found = columns(cells)
            if "answer" in found:
                where = found
            continue
        if not any(str(c or "").strip() for c in cells):
            continue
        entry = _row_entry(cells, where, stem + prefix, line, f"{prefix.strip('-') + ' ' if prefix else ''}第{line}行")
        if isinstance(entry, str):
            parsed.errors.append((line, entry))
        else:
            parsed.add(line, entry)
    return where is not None


def _csv(data: bytes, stem: str, parsed: Parsed) -> None:
    reader = csv.reader(io.StringIO(_decode(data)))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for cells in reader:
                yield reader.line_num, cells
        except csv.Error as exc:
            parsed.errors.append((reader.line_num, f"CSV 格式错误：{exc}"))

    if not _sheet(rows(), stem, parsed):
        raise UnreadableFile("找不到答案列：表头应有“答案”（或 answer、内容），可选“问题”“编号”“处理单位”“来源”")


def _xlsx(data: bytes, stem: str, parsed: Parsed) -> None:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException
        raise UnreadableFile(f"无法打开 Excel 文件：{type(exc).__name__}") from exc
    try:
        sheets = list(book.worksheets)
        usable = 0
        for sheet in sheets:
            prefix = f"-{_stem(sheet.title)}" if len(sheets) > 1 else ""
            rows = ((n, list(r)) for n, r in enumerate(sheet.iter_rows(values_only=True), start=1))
            usable += _sheet(rows, stem, parsed, prefix)
        if not usable:
            raise UnreadableFile("没有一张工作表有答案列：表头应有“答案”（或 answer、内容）")
    finally:
        book.close()


def _jsonl(data: bytes, stem: str, parsed: Parsed) -> None:
    for line, raw in enumerate(_decode(data).splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            parsed.errors.append((line, f"JSON 格式错误：{exc.msg}（第 {exc.colno} 列）"))
            continue
        if not isinstance(row, dict):
            parsed.errors.append((line, "每行应是一个 JSON 对象"))
            continue
        text = row.get("answer") if row.get("answer") is not None else row.get("text")
        if not isinstance(text, str) or not text.strip():
            parsed.errors.append((line, "缺少 answer 或 text"))
            continue
        fields = {k: row.get(k) for k in ("id", "question", "title", "department", "source")}
        bad = [k for k, v in fields.items() if v is not None and not isinstance(v, str | int)]
        if bad:
            parsed.errors.append((line, f"{'、'.join(bad)} 应是文字"))
            continue
        title = str(fields["question"] or fields["title"] or "")
        key = str(fields["id"]) if fields["id"] not in (None, "") else f"{stem}-{line}"
        parsed.add(line, EntryIn(key=key, text=text.strip(), title=title.strip(),
                                 department=str(fields["department"] or ""), origin=str(fields["source"] or ""),
                                 locator=f"第{line}行"))


# ---------------------------------------------------------------- documents


def _sections(parsed: Parsed, stem: str, sections: list[tuple[int, str, str, str]], unit: str) -> None:
    """(number, heading, text, locator) sections → entries of at most one chunk each."""
    for number, heading, text, locator in sections:
        pieces = chunk(text)
        for part, piece in enumerate(pieces, start=1):
            key = f"{stem}-{unit}{number}" + (f"-{part}" if len(pieces) > 1 else "")
            parsed.add(number, EntryIn(key=key, text=piece, title=heading, locator=locator))


def _pdf(data: bytes, stem: str, parsed: Parsed) -> None:
    """Each page's text layer; a scanned page is read by the project's OCR when installed."""
    import pypdfium2 as pdfium

    from tongban.tools.review.ocr import OcrUnavailable, shared_engine

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UnreadableFile("PDF 文件无法打开（可能已损坏或设置了密码）") from exc
    sections: list[tuple[int, str, str, str]] = []
    try:
        for index in range(len(document)):
            page = document[index]
            text = page.get_textpage().get_text_range()
            if len("".join(text.split())) < 8:
                width, height = page.get_size()
                try:
                    image = page.render(scale=min(2.0, 2000 / max(width, height, 1.0))).to_pil()
                    text = shared_engine().read_image(image).text
                except OcrUnavailable:
                    parsed.errors.append((index + 1, "扫描页没有文字层，且未安装 OCR（pip install 'tongban[ocr]'）"))
                    continue
            if text.strip():
                sections.append((index + 1, "", _unwrap(text), f"第{index + 1}页"))
    finally:
        document.close()
    _sections(parsed, stem, sections, "p")


def _unwrap(text: str) -> str:
    """PDF lines break inside sentences: join lines unless one ends a sentence or starts a list."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out = ""
    for line in lines:
        if out and not re.search(r"[。！？!?；;：:]$", out) and not re.match(r"^(第.{1,5}[章条节]|[一二三四五六七八九十]+、|\d+[.、])", line):
            out += line
        else:
            out += ("\n" if out else "") + line
    return out


def _heading_sections(blocks: list[tuple[bool, str]]) -> list[tuple[int, str, str, str]]:
    """(is heading, text) blocks → sections under their nearest heading."""
    sections: list[tuple[int, str, str, str]] = []
    heading, body = "", []

    def close() -> None:
        if any(b.strip() for b in body):
            number = len(sections) + 1
            sections.append((number, heading, "\n".join(body), f"第{number}节" + (f"（{heading[:40]}）" if heading else "")))

    for is_heading, text in blocks:
        if is_heading:
            close()
            heading, body = text.strip(), []
        elif text.strip():
            body.append(text.strip())
    close()
    return sections


def _docx(data: bytes, stem: str, parsed: Parsed) -> None:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a zip that is not a Word document
        raise UnreadableFile(f"无法打开 Word 文件：{type(exc).__name__}") from exc
    blocks: list[tuple[bool, str]] = []
    for paragraph in document.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        blocks.append((style.lower().startswith(("heading", "title")) or style.startswith("标题"), paragraph.text))
    for table in document.tables:  # tables (often Q/A grids) after the running text
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            blocks.append((False, "：".join(dict.fromkeys(c for c in cells if c))))
    _sections(parsed, stem, _heading_sections(blocks), "s")


def _markdown(data: bytes, stem: str, parsed: Parsed) -> None:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(_decode(data))
    blocks: list[tuple[bool, str]] = []
    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline":
            text = "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline", "softbreak"))
            blocks.append((in_heading, text or token.content))
        elif token.type in ("fence", "code_block"):
            blocks.append((False, token.content))
    _sections(parsed, stem, _heading_sections(blocks), "s")


def _html(data: bytes, stem: str, parsed: Parsed) -> None:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data), "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript", "template"]):
        tag.decompose()
    blocks: list[tuple[bool, str]] = []
    body = soup.body or soup
    for element in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "dt", "dd", "pre", "blockquote"]):
        if element.find_parent(["p", "li", "tr", "dd", "pre", "blockquote"]) is not None:
            continue  # already read with its enclosing block
        separator = "：" if element.name == "tr" else ""
        text = element.get_text(separator, strip=True)
        blocks.append((element.name[0] == "h" and element.name[1:].isdigit(), text))
    if not blocks:  # a page of bare text
        blocks = [(False, line) for line in body.get_text("\n").splitlines()]
    _sections(parsed, stem, _heading_sections(blocks), "s")


def _txt(data: bytes, stem: str, parsed: Parsed) -> None:
    """Paragraphs (blank-line separated) packed into chunks, keyed by the line they start on."""
    lines = _decode(data).splitlines()
    sections: list[tuple[int, str, str, str]] = []
    start, body = 0, []
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            start = start or number
            body.append(line.strip())
        elif body:
            sections.append((start, "", "\n".join(body), f"第{start}行"))
            start, body = 0, []
    _sections(parsed, stem, _merge_short(sections), "l")


def _merge_short(sections: list[tuple[int, str, str, str]], size: int = 200) -> list[tuple[int, str, str, str]]:
    """Short paragraphs join the next, so a chunk is not a lone line."""
    merged: list[tuple[int, str, str, str]] = []
    for section in sections:
        if merged and len(merged[-1][2]) < size:
            number, heading, text, locator = merged[-1]
            merged[-1] = (number, heading, f"{text}\n{section[2]}", locator)
        else:
            merged.append(section)
    return merged
