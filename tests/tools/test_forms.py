"""Pre-filled application forms: what is known fills the form, answers are checked, values stay sealed,
and the printable PDF carries every value in Chinese with its font embedded."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import NOW, needs_cjk_font
from tongban.memory import forms as form_store
from tongban.memory.models import FormFill, FormFillStatus, Resident
from tongban.memory.residents import Identity, resolve
from tongban.memory.retention import purge_before
from tongban.memory.store import Store
from tongban.tools import form_pdf, forms
from tongban.tools.forms import InvalidAnswer

RENT = "450000-GJJ-0001"  # 住房公积金提取（租房）
SOCIAL_CARD = "450000-RS-0001"  # 社会保障卡申领
INSURANCE = "450000-YB-0002"  # 城乡居民基本医疗保险参保登记
MARRIAGE = "450000-MZ-0001"
ID = "450102199001011231"
CARD = "6222021001123456789"  # passes the Luhn check, as issued cards do
ADDRESS = "广西壮族自治区南宁市青秀区民族大道100号"


def resident(session, store: Store, *, verified: bool = True) -> Resident:  # type: ignore[no-untyped-def]
    identity = Identity(name="韦小宝", phone="13800000000", id_number=ID) if verified else None
    return resolve(session, store.vault, channel="wechat", user_id=f"o-forms-{verified}", identity=identity)


def fill_all(session, store: Store, person: Resident, code: str, answers: dict[str, str]) -> forms.Fill:  # type: ignore[no-untyped-def]
    fill = forms.current(session, store.vault, person, code)
    for field in fill.missing:
        fill = forms.answer(session, store.vault, person, code, key=field.key, text=answers[field.key], now=NOW)
        assert not fill.invalid, fill.invalid
    return fill


RENT_ANSWERS = {"fund_account": "100012345678", "employer": "广西云数科技有限公司", "reason": "1",
                "rental_address": "南宁市西乡塘区大学东路88号", "monthly_rent": "1500元", "bank_name": "建设银行",
                "bank_card": CARD}


def test_a_verified_identity_fills_its_fields_and_only_the_rest_is_missing(store: Store) -> None:
    with store.session() as session:
        person = resident(session, store)
        fill = forms.current(session, store.vault, person, RENT)
    assert fill.values == {"name": "韦小宝", "id_number": ID, "phone": "13800000000"}
    assert set(fill.origins.values()) == {"identity"}
    assert [f.label for f in fill.missing] == ["个人住房公积金账号", "工作单位", "提取原因", "租赁房屋地址",
                                               "月租金（元）", "收款银行", "银行卡号"]


def test_an_unverified_resident_is_asked_for_the_identity_fields_too(store: Store) -> None:
    with store.session() as session:
        person = resident(session, store, verified=False)
        fill = forms.current(session, store.vault, person, INSURANCE)
        assert fill.values == {} and fill.missing[0].label == "姓名"
        wrong = forms.answer(session, store.vault, person, INSURANCE, key="id_number", text="450102199001011232", now=NOW)
        assert "校验位" in wrong.invalid["id_number"] and "id_number" not in wrong.values
        right = forms.answer(session, store.vault, person, INSURANCE, key="id_number", text=f"身份证号是{ID}", now=NOW)
        assert right.values["id_number"] == ID and not right.verified


@pytest.mark.parametrize(("kind", "said", "kept"), [
    ("date", "上周五", "2026年11月20日"),
    ("date", "2020.5.1", "2020年5月1日"),
    ("choice", "2", "租住公共租赁住房"),
    ("choice", "租的是公共租赁住房", "租住公共租赁住房"),
    ("phone", "138-0000-0000", "13800000000"),
    ("bank_card", "6222 0210 0112 3456 789", CARD),
    ("number", "每月1,500元", "1500"),
    ("text", "地址是南宁市青秀区", "南宁市青秀区"),
])
def test_answers_are_read_the_way_residents_give_them(kind: str, said: str, kept: str) -> None:
    field = forms.FormField(key="k", label="某项", kind=kind, options=["无房职工租住商品住房", "租住公共租赁住房"])
    assert forms.validate(field, said, NOW) == kept


@pytest.mark.parametrize(("kind", "said", "reason"), [
    ("date", "去年3月", "具体哪一天"),
    ("date", "不记得了", "没看懂"),
    ("bank_card", "6222021001123456780", "银行卡号无效"),
    ("phone", "1380000", "手机号码无效"),
    ("choice", "买房", "请从这些中选择"),
])
def test_answers_that_do_not_fit_say_why(kind: str, said: str, reason: str) -> None:
    field = forms.FormField(key="k", label="某项", kind=kind, options=["无房职工租住商品住房", "租住公共租赁住房"])
    with pytest.raises(InvalidAnswer, match=reason):
        forms.validate(field, said, NOW)


def test_values_are_sealed_at_rest_and_masked_for_display(any_store: Store) -> None:
    store = any_store
    with store.session() as session:
        person = resident(session, store)
        fill = fill_all(session, store, person, RENT, RENT_ANSWERS)
        shown = {f["key"]: f["shown"] for f in fill.masked()}
    with store.engine.connect() as connection:
        raw = " ".join(str(v) for row in connection.execute(text("SELECT * FROM form_fill")) for v in row)
    for secret in (ID, CARD, "13800000000", "韦小宝", "大学东路"):
        assert secret not in raw
    assert shown["id_number"] == "4501**********1231" and shown["bank_card"] == "6222***********6789"
    assert shown["phone"] == "138****0000" and shown["name"] == "韦**"
    assert shown["reason"] == "无房职工租住商品住房", "what is not personal is shown as it is"


@needs_cjk_font
def test_the_pdf_opens_and_holds_every_value_in_chinese_with_the_font_embedded(store: Store) -> None:
    with store.session() as session:
        person = resident(session, store)
        fill = fill_all(session, store, person, RENT, RENT_ANSWERS)
        saved = forms.confirm(session, store.vault, person, fill)
        pdf = forms.pdf_of(session, store.vault, saved)
    reader = PdfReader(io.BytesIO(pdf))
    extracted = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    for value in ("住房公积金提取（租房）申请表", "韦小宝", ID, "13800000000", "广西云数科技有限公司",
                  "无房职工租住商品住房", "南宁市西乡塘区大学东路88号", "1500", "中国建设银行", CARD,
                  "公民身份号码", "申请人身份信息取自实名认证"):
        assert value in extracted
    fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]
    embedded = [f for f in fonts if "/FontDescriptor" in f and "/FontFile2" in f["/FontDescriptor"].get_object()]
    assert embedded, "the Chinese font travels inside the PDF"


def test_a_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    settings = form_pdf.FormSettings(form_font_path=tmp_path / "nowhere.ttc")
    with pytest.raises(form_pdf.FontMissing, match="TONGBAN_FORM_FONT_PATH"):
        form_pdf.font_path(settings)


def test_a_confirmed_form_remembers_reusable_answers_sealed_for_the_next_form(store: Store) -> None:
    with store.session() as session:
        person = resident(session, store)
        fill = fill_all(session, store, person, SOCIAL_CARD, {
            "address": ADDRESS, "bank_outlet": "桂林银行", "delivery": "邮寄到家", "occupation": "教师"})
        forms.confirm(session, store.vault, person, fill)
        assert ADDRESS not in str(person.memory), "remembered, but sealed"
        other = forms.current(session, store.vault, person, INSURANCE)
    assert other.values["address"] == ADDRESS and other.origins["address"] == "memory"
    assert [f.key for f in other.missing] == ["category", "residence"]


def test_a_typed_identity_never_outranks_the_verified_one(store: Store) -> None:
    with store.session() as session:
        person = resident(session, store, verified=False)
        forms.answer(session, store.vault, person, MARRIAGE, key="name", text="王五", now=NOW)
        person = resolve(session, store.vault, channel="wechat", user_id="o-forms-False",
                         identity=Identity(name="韦小宝", phone="13800000000", id_number=ID))
        fill = forms.current(session, store.vault, person, MARRIAGE)
    assert fill.values["name"] == "韦小宝" and fill.origins["name"] == "identity"


def test_items_without_a_form_say_so(store: Store) -> None:
    with store.session() as session, pytest.raises(LookupError, match="没有可以预填的申请表"):
        forms.current(session, store.vault, resident(session, store), "450000-GA-0001")


def test_retention_deletes_old_forms_and_keeps_recent_ones(any_store: Store) -> None:
    store = any_store
    with store.session() as session:
        person = resident(session, store)
        for age in (200, 3):
            code = RENT if age == 3 else INSURANCE
            fill = forms.save(session, store.vault, person, forms.current(session, store.vault, person, code))
            assert fill.fill is not None
            fill.fill.created_at = NOW - dt.timedelta(days=age)
            form_store.confirm(session, fill.fill)
    with store.session() as session:
        purged = purge_before(session, store.settings.data_dir, NOW - dt.timedelta(days=180))
        assert purged.forms == 1
        (kept,) = session.exec(select(FormFill)).all()
        assert kept.item_code == RENT and kept.status == FormFillStatus.CONFIRMED
