"""Material review (智能审核): real OCR on synthetic document photos, fields checked, materials judged.

The photos are drawn with a real Chinese font (tests/helpers/specimens.py); RapidOCR reads them with the
PP-OCR models its wheel ships. Each specimen is read once per session and reused.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import sys
from typing import Any

import pytest

from tests.helpers.specimens import (
    APPLICANT,
    APPLICANT_ID,
    OTHER,
    OTHER_ID,
    blank_png,
    encode,
    font_missing,
    landscape,
    phone_photo,
    specimens,
    text_pdf,
)
from tongban.memory.demo import catalog_rows
from tongban.tools.review.checks import Applicant, parse_validity
from tongban.tools.review.documents import KINDS_FILE, catalogue, load
from tongban.tools.review.ocr import (
    OcrEngine,
    OcrUnavailable,
    Reading,
    UnreadableDocument,
    shared_engine,
    sniff,
)
from tongban.tools.review.review import (
    DISCLAIMER,
    Reviewed,
    reply_text,
    review_file,
    review_reading,
    verdicts,
)

pytestmark = pytest.mark.slow  # real OCR over synthetic documents

TODAY = dt.date(2026, 11, 24)
ME = Applicant(name=APPLICANT, id_number=APPLICANT_ID)
MISSING = font_missing() or (
    None if importlib.util.find_spec("rapidocr_onnxruntime") else "the ocr extra is not installed: pip install -e '.[ocr]'"
)
needs_ocr = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def catalog_item(name: str) -> dict[str, Any]:
    return next(row for row in catalog_rows() if row["name"] == name)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine()


@pytest.fixture(scope="module")
def read(engine: OcrEngine):  # type: ignore[no-untyped-def]
    """Each specimen, as a phone's JPEG, read by OCR once."""
    pages = specimens()
    cache: dict[str, Reading] = {}

    def reading(name: str) -> Reading:
        if name not in cache:
            cache[name] = engine.read(encode(pages[name]))
        return cache[name]

    return reading


@pytest.fixture
def detector_inputs(engine: OcrEngine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(height, width) of every array RapidOCR's text detector runs on, after its own resizing
    and padding: the detector's working memory grows with these pixels (about 130 bytes each)."""
    detector = engine.load()._model.text_det
    shapes: list[tuple[int, int]] = []
    real = detector.infer

    def spy(array):  # type: ignore[no-untyped-def]
        shapes.append(tuple(array.shape[2:]))
        return real(array)

    monkeypatch.setattr(detector, "infer", spy)
    return shapes


def reviewed(read, *names: str, applicant: Applicant = ME) -> list[Reviewed]:  # type: ignore[no-untyped-def]
    return [Reviewed(id=i, review=review_reading(read(n), applicant=applicant, today=TODAY))
            for i, n in enumerate(names, 1)]


def by_material(summary) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {v.material: v for v in summary.verdicts}


# ------------------------------------------------------------------ one document


@needs_ocr
def test_the_id_card_portrait_side_is_recognised_and_its_number_and_name_checked(read) -> None:  # type: ignore[no-untyped-def]
    review = review_reading(read("id_front"), applicant=ME, today=TODAY)
    assert (review["kind"], review["document"], review["part"]) == ("id_card_front", "居民身份证", "人像面")
    facts = review["facts"]
    assert facts["id_number_valid"] is True and facts["id_number"] == APPLICANT_ID[:4] + "*" * 10 + APPLICANT_ID[-4:]
    assert facts["name_matches"] is True and facts["id_matches"] is True and facts["name"] == "覃**"
    assert review["problems"] == []
    stored = json.dumps(review, ensure_ascii=False)
    assert APPLICANT not in stored and APPLICANT_ID not in stored, "the review is stored masked"


@needs_ocr
def test_a_card_of_someone_else_is_flagged_without_naming_them(read) -> None:  # type: ignore[no-untyped-def]
    review = review_reading(read("id_front_other"), applicant=ME, today=TODAY)
    assert review["kind"] == "id_card_front" and review["facts"]["id_number_valid"] is True
    assert [p["code"] for p in review["problems"]] == ["name_mismatch", "id_mismatch"]
    assert [p["text"] for p in review["problems"]][0] == "证件上的姓名与申请人不一致"
    stored = json.dumps(review, ensure_ascii=False)
    assert OTHER not in stored and OTHER_ID not in stored and APPLICANT not in stored


@needs_ocr
def test_without_a_verified_applicant_the_name_is_not_compared(read) -> None:  # type: ignore[no-untyped-def]
    review = review_reading(read("id_front_other"), applicant=Applicant(), today=TODAY)
    assert review["problems"] == [] and "name_matches" not in review["facts"]


@needs_ocr
def test_the_validity_dates_are_checked_against_today(read) -> None:  # type: ignore[no-untyped-def]
    valid = review_reading(read("id_back_valid"), applicant=ME, today=TODAY)
    assert valid["kind"] == "id_card_back" and valid["problems"] == []
    assert (valid["facts"]["valid_from"], valid["facts"]["valid_until"]) == ("2016-05-20", "2036-05-20")
    expired = review_reading(read("id_back_expired"), applicant=ME, today=TODAY)
    assert expired["problems"] == [{"code": "expired", "text": "身份证已于 2025-03-01 过期"}]
    long_term = review_reading(read("id_back_long_term"), applicant=ME, today=TODAY)
    assert long_term["facts"]["valid_until"] == "长期" and long_term["problems"] == []
    on_the_day = review_reading(read("id_back_expired"), applicant=ME, today=dt.date(2025, 3, 1))
    assert on_the_day["problems"] == [], "a card is valid through its last day"


@needs_ocr
def test_the_hukou_first_page_and_a_member_page_are_told_apart(read) -> None:  # type: ignore[no-untyped-def]
    first = review_reading(read("hukou_first"), applicant=ME, today=TODAY)
    assert (first["kind"], first["part"]) == ("hukou_first", "首页")
    assert first["facts"]["householder"] == "覃**" and first["facts"]["household_no"] == "****45"
    member = review_reading(read("hukou_member"), applicant=ME, today=TODAY)
    assert (member["kind"], member["part"]) == ("hukou_member", "常住人口登记卡"), \
        "姓名 and 公民身份号码 on a member page do not make it an ID card"
    assert member["facts"]["id_number_valid"] is True


@needs_ocr
def test_an_unrelated_photo_is_no_document(read) -> None:  # type: ignore[no-untyped-def]
    review = review_reading(read("landscape"), applicant=ME, today=TODAY)
    assert review["kind"] is None and review["text_found"] is False and review["problems"] == []


# ------------------------------------------------------------------ an item's materials


@needs_ocr
def test_item_by_item_present_missing_and_wrong_for_a_household_move(read) -> None:  # type: ignore[no-untyped-def]
    item = catalog_item("户口迁移")
    summary = verdicts(item["materials"], reviewed(read, "id_front", "id_back_valid", "hukou_member", "landscape"))
    judged = by_material(summary)
    assert judged["居民身份证"].status == "present" and judged["居民身份证"].uploads == [1, 2]
    assert judged["居民户口簿"].status == "problem"
    assert judged["居民户口簿"].reasons == ["不是户口簿首页，请上传户口簿首页（户主页）"]
    assert judged["落户依据材料"].status == "missing" and not judged["落户依据材料"].checkable
    assert summary.unmatched == [{"upload": 4, "kind_name": None, "reason": "没有读出文字，看起来不是证件或材料"}]
    text = reply_text(summary_review(read, "hukou_member"), "户口迁移", summary)
    assert "识别为「居民户口簿（常住人口登记卡）」" in text
    assert "1. 居民身份证：已收到" in text and "2. 居民户口簿：需要核对（不是户口簿首页" in text
    assert "3. 落户依据材料：还没有收到" in text and text.endswith(DISCLAIMER)

    later = verdicts(item["materials"], reviewed(read, "id_front", "id_back_valid", "hukou_member", "landscape",
                                                 "hukou_first"))
    assert by_material(later)["居民户口簿"].status == "present", "the 首页 sent afterwards completes the 户口簿"


@needs_ocr
def test_an_expired_card_is_wrong_for_a_certificate_but_expected_when_renewing(read) -> None:  # type: ignore[no-untyped-def]
    uploads = reviewed(read, "id_front", "id_back_expired")
    certificate = by_material(verdicts(catalog_item("无犯罪记录证明开具")["materials"], uploads))["居民身份证"]
    assert (certificate.status, certificate.reasons) == ("problem", ["身份证已于 2025-03-01 过期"])
    renewal = by_material(verdicts(catalog_item("居民身份证换领")["materials"], uploads))["原居民身份证"]
    assert renewal.status == "present", "换领 asks for the old card, expired or not"
    fixed = by_material(verdicts(catalog_item("无犯罪记录证明开具")["materials"],
                                 reviewed(read, "id_front", "id_back_expired", "id_back_valid")))["居民身份证"]
    assert fixed.status == "present", "a newer photo of the same side replaces the expired one"


@needs_ocr
def test_one_side_of_the_card_asks_for_the_other(read) -> None:  # type: ignore[no-untyped-def]
    judged = by_material(verdicts(catalog_item("居住证办理")["materials"], reviewed(read, "id_front")))["居民身份证"]
    assert (judged.status, judged.reasons) == ("problem", ["还缺身份证国徽面（有有效期限的一面）"])
    wrong_person = by_material(verdicts(catalog_item("居住证办理")["materials"],
                                        reviewed(read, "id_front_other", "id_back_valid")))["居民身份证"]
    assert wrong_person.reasons == ["证件上的姓名与申请人不一致", "证件上的公民身份号码与申请人不一致"]


def summary_review(read, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return review_reading(read(name), applicant=ME, today=TODAY)


# ------------------------------------------------------------------ files


@needs_ocr
async def test_a_scanned_pdf_is_rendered_and_read_within_the_page_bound(engine: OcrEngine) -> None:
    pages = specimens()
    first, *rest = [pages["hukou_first"], pages["landscape"], pages["landscape"]]
    buffer = io.BytesIO()
    first.save(buffer, "PDF", save_all=True, append_images=rest, resolution=150.0)
    review = await review_file(engine, buffer.getvalue(), applicant=ME, today=TODAY, max_pages=2)
    assert review["kind"] == "hukou_first" and (review["pages"], review["page_count"]) == (2, 3)
    assert review["facts"]["pages_not_read"] == 1
    assert "只读取了前 2 页" in reply_text(review, None, None)


@needs_ocr
def test_a_generated_pdf_is_read_from_its_text_layer(engine: OcrEngine) -> None:
    data = text_pdf(["中华人民共和国", "居民身份证", "签发机关 南宁市公安局青秀分局", "有效期限 2016.05.20-2026.05.20"])
    reading = engine.read(data)
    assert [p.source for p in reading.pages] == ["text-layer"]
    review = review_reading(reading, applicant=ME, today=TODAY)
    assert review["kind"] == "id_card_back" and review["problems"][0]["text"] == "身份证已于 2026-05-20 过期"


@needs_ocr
def test_png_and_jpeg_read_alike(engine: OcrEngine) -> None:
    image = specimens()["id_back_valid"]
    assert engine.read(encode(image, "PNG")).text == engine.read(encode(image)).text


@needs_ocr
def test_garbage_and_broken_files_are_unreadable(engine: OcrEngine) -> None:
    jpeg = encode(specimens()["landscape"])
    for data in (b"MZ\x90\x00 not a picture", jpeg[: len(jpeg) // 3], b"%PDF-1.4\n garbage that is no PDF",
                 b"\x89PNG\r\n\x1a\n" + b"\x00" * 50):
        with pytest.raises(UnreadableDocument):
            engine.read(data)


@needs_ocr
def test_a_phone_photo_is_read_within_the_detectors_pixel_budget(engine: OcrEngine, detector_inputs) -> None:  # type: ignore[no-untyped-def]
    review = review_reading(engine.read(encode(phone_photo(specimens()["id_front"]))), applicant=ME, today=TODAY)
    assert review["kind"] == "id_card_front" and review["facts"]["id_matches"] is True
    assert detector_inputs and all(h * w <= 1.1 * engine.max_pixels for h, w in detector_inputs), detector_inputs


@needs_ocr
def test_however_a_small_file_is_shaped_the_detector_gets_no_more_than_its_pixel_budget(engine: OcrEngine, detector_inputs) -> None:  # type: ignore[no-untyped-def]
    bombs = {"square": blank_png(6300, 6300), "tall": blank_png(300, 6000), "wide": blank_png(6000, 300)}
    for name, data in bombs.items():
        assert len(data) < 200_000
        engine.read(data)
        h, w = detector_inputs[-1]
        assert h * w <= 1.1 * engine.max_pixels, f"{name}: the detector ran on {w}×{h}"


def test_the_content_type_comes_from_the_bytes() -> None:
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg" and sniff(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert sniff(b"%PDF-1.7\n") == "application/pdf" and sniff(b"GIF89a") is None and sniff(b"") is None


async def test_without_the_ocr_extra_files_are_kept_for_staff_unreviewed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PIL", reason="Pillow draws the photo")
    photo = encode(landscape())
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import now fails as if not installed
    engine = OcrEngine()
    with pytest.raises(OcrUnavailable, match=r"tongban\[ocr\]"):
        engine.load()
    review = await review_file(engine, photo, applicant=ME, today=TODAY)
    assert review == {"status": "unavailable"}
    assert "工作人员会人工核对" in reply_text(review, None, None)


@needs_ocr
def test_the_model_is_loaded_once_per_process() -> None:
    engine = shared_engine()
    assert engine is shared_engine()
    model = engine.load()._model
    assert engine.load()._model is model and engine.load_seconds is not None


# ------------------------------------------------------------------ the kinds are data


def test_validity_periods_as_printed() -> None:
    assert parse_validity("2016.05.20-2026.05.20") == (dt.date(2016, 5, 20), dt.date(2026, 5, 20))
    assert parse_validity("2012.08.01-长期") == (dt.date(2012, 8, 1), None)
    assert parse_validity("2016年05月20日至2036年05月20日") == (dt.date(2016, 5, 20), dt.date(2036, 5, 20))
    assert parse_validity("2016.13.20-2026.05.20") is None and parse_validity("有效期") is None


def test_documents_fit_the_catalogs_material_names() -> None:
    id_card, hukou = catalogue().documents["居民身份证"], catalogue().documents["居民户口簿"]
    names = {m["name"] for row in catalog_rows() for m in row["materials"]}
    fits = {n for n in names if id_card.fits(n)}
    assert {"居民身份证", "原居民身份证", "居民身份证或社会保障卡", "双方居民身份证", "居民身份证或居民户口簿"} <= fits
    assert not fits & {"居民身份证数码相片", "居民身份证申领受理回执", "其他有效身份证件"}
    assert {n for n in names if hukou.fits(n)} >= {"居民户口簿", "随迁一方的居民户口簿", "儿童户口簿"}
    assert id_card.expiry_expected("原居民身份证") and not id_card.expiry_expected("居民身份证")


def test_a_kinds_file_must_describe_every_document_it_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    raw = json.loads(KINDS_FILE.read_text("utf-8"))
    del raw["documents"]["居民户口簿"]
    broken = tmp_path / "kinds.json"
    broken.write_text(json.dumps(raw, ensure_ascii=False), "utf-8")
    with pytest.raises(ValueError, match="居民户口簿"):
        load(broken)
