"""Reading operators' files into knowledge-base entries: every kind, Chinese or English headers,
bad rows reported by line, documents chunked at sentence ends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tongban.tools.kb.chunks import chunk, sentences
from tongban.tools.kb.files import UnreadableFile, parse, read_file

POLICY = ("非京籍人员在本市购车时，如果购买的是小客车，需要先申请参加摇号。取得小客车配置指标后，再购置车辆。"
          "购车后办理上牌手续时，除了提供本人身份证外，还需提供有效期内的居住证。")


def test_the_shared_faq_sheet_reads_as_233_answered_questions() -> None:
    parsed = read_file(SHARED / "kb" / "dev-faq.csv")
    assert parsed.kind == "csv" and not parsed.errors and len(parsed.entries) == 233
    first = parsed.entries[0]
    assert first.title.startswith("中签后可以在外地购买小客车") and first.department == "交管局"
    assert first.keywords == "回京、上牌" and first.key == "dev-faq-2" and first.locator == "第2行"


def test_jsonl_keeps_ids_and_reports_bad_lines() -> None:
    lines = [json.dumps({"id": "a-1", "text": POLICY, "department": "交管局"}, ensure_ascii=False),
             "{not json", json.dumps({"id": "a-2"}), "",
             json.dumps({"question": "问？", "answer": "答。", "source": "某某办法"}, ensure_ascii=False)]
    parsed = parse("faq.jsonl", "\n".join(lines).encode())
    assert [e.key for e in parsed.entries] == ["a-1", "faq-5"]
    assert parsed.entries[1].title == "问？" and parsed.entries[1].origin == "某某办法"
    assert [line for line, _ in parsed.errors] == [2, 3]


def test_csv_in_gb18030_with_english_headers_and_an_empty_answer() -> None:
    text = "ID,Question,Answer,Dept\nq1,怎么摇号？,先注册再申请。,交管局\nq2,没有答案的问题,,交管局\n"
    parsed = parse("sheet.csv", text.encode("gb18030"))
    assert [e.key for e in parsed.entries] == ["q1"] and parsed.entries[0].department == "交管局"
    assert parsed.errors == [(3, "答案为空")]


def test_a_sheet_without_an_answer_column_is_refused_whole() -> None:
    with pytest.raises(UnreadableFile, match="答案"):
        parse("sheet.csv", "名称,备注\n甲,乙\n".encode())
    with pytest.raises(UnreadableFile, match="不支持"):
        parse("notes.rtf", b"{\\rtf1}")


def test_xlsx_with_a_title_row_above_chinese_headers() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["12345 热线知识库（2026 年版）"])
    sheet.append(["序号", "问题", "答案", "关键字", "处理单位"])
    sheet.append([1, "公积金贷款还完后要办什么手续？", "贷款结清后，请到承办银行领取结清证明，再办理抵押注销。", "公积金;贷款", "住房公积金管理中心"])
    sheet.append([2, "空的", None, None, None])
    data = io.BytesIO()
    book.save(data)
    parsed = parse("热线.xlsx", data.getvalue())
    assert [e.key for e in parsed.entries] == ["1"]
    assert parsed.entries[0].keywords == "公积金、贷款" and parsed.entries[0].locator == "第3行"
    assert parsed.errors == [(4, "答案为空")]


def test_docx_sections_follow_headings() -> None:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_heading("一、购车条件", level=1)
    document.add_paragraph(POLICY)
    document.add_heading("二、办理时限", level=1)
    document.add_paragraph("在本市范围内办理转移登记的，一个工作日内办结。")
    data = io.BytesIO()
    document.save(data)
    parsed = parse("购车政策.docx", data.getvalue())
    assert [(e.key, e.title) for e in parsed.entries] == [("购车政策-s1", "一、购车条件"), ("购车政策-s2", "二、办理时限")]
    assert parsed.entries[1].locator.startswith("第2节")


def test_markdown_html_and_text() -> None:
    md = parse("guide.md", f"# 购车\n\n{POLICY}\n\n## 时限\n\n一个工作日内办结。\n".encode())
    assert [e.title for e in md.entries] == ["购车", "时限"]
    html = parse("page.html", f"<html><script>var x=1;</script><body><h2>购车</h2><p>{POLICY}</p>"
                              "<table><tr><td>收费</td><td>100元</td></tr></table></body></html>".encode())
    assert html.entries[0].title == "购车" and "收费：100元" in html.entries[0].text and "var x" not in html.entries[0].text
    txt = parse("notice.txt", f"通知\n{POLICY}\n\n\n第二段。{POLICY}\n".encode())
    assert txt.entries and txt.entries[0].key.startswith("notice-l1") and txt.entries[0].locator == "第1行"


def test_pdf_text_layer_by_page(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    from tongban.tools.form_pdf import FontMissing, _register, font_path

    try:
        font = _register(font_path())
    except FontMissing:
        pytest.skip("no CJK font to write the test PDF")
    data = io.BytesIO()
    pdf = canvas.Canvas(data)
    for text in ("第一页：非京籍人员购车需要先参加摇号。", "第二页：转移登记一个工作日内办结。"):
        pdf.setFont(font, 12)
        pdf.drawString(50, 750, text)
        pdf.showPage()
    pdf.save()
    parsed = parse("政策.pdf", data.getvalue())
    assert [(e.key, e.locator) for e in parsed.entries] == [("政策-p1", "第1页"), ("政策-p2", "第2页")]
    assert "摇号" in parsed.entries[0].text
    with pytest.raises(UnreadableFile):
        parse("broken.pdf", b"%PDF-1.4 garbage")


def test_chunks_end_at_sentences_and_respect_the_size() -> None:
    text = POLICY * 6
    pieces = chunk(text, 120)
    assert all(len(p) <= 120 for p in pieces) and len(pieces) > 3
    assert all(p.endswith(("。", "）")) for p in pieces)
    assert "".join(sentences(text)).replace("\n", "") == text
    assert all(len(p) <= 50 for p in chunk("很长的一句话，" * 40, 50))
