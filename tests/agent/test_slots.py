"""Slot extraction: the offline brain's reading of dates, halls, identifiers and answers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tongban.agent.brains.slots import (
    HallRef,
    When,
    classify_answer,
    extract_id_last4,
    extract_id_number,
    extract_phone,
    extract_receipt_no,
    extract_when,
    extract_whens,
    match_hall,
    normalise,
)

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=CST)  # a Tuesday
D = dt.date
T = dt.time
ID = "450102199001011231"
ID_X = "45030219880808004X"
HALLS_JSON = Path(__file__).resolve().parents[2] / "memory" / "demo" / "halls.json"


# ── normalise ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  １３８　１２３４  ５６７８ ", "138 1234 5678"),
        ("ＧＸ２０２６", "GX2026"),
        ("後天下午三點", "后天下午三点"),
        ("好的，\n谢谢", "好的, 谢谢"),
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


# ── extract_when ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "day", "period", "clock"),
    [
        ("明天上午", D(2026, 11, 25), "上午", None),
        ("后天下午", D(2026, 11, 26), "下午", None),
        ("大后天", D(2026, 11, 27), None, None),
        ("今天下午", D(2026, 11, 24), "下午", None),
        ("今天", D(2026, 11, 24), None, None),
        ("下周一", D(2026, 11, 30), None, None),
        ("这周六", D(2026, 11, 28), None, None),
        ("这周六上午", D(2026, 11, 28), "上午", None),
        ("周五", D(2026, 11, 27), None, None),
        ("周一", D(2026, 11, 30), None, None),  # bare weekday already past: the coming one
        ("11月27号", D(2026, 11, 27), None, None),
        ("11.27", D(2026, 11, 27), None, None),
        ("12月1日", D(2026, 12, 1), None, None),
        ("12月1日上午", D(2026, 12, 1), "上午", None),
        ("1月5号", D(2027, 1, 5), None, None),  # month long past: next year
        ("20号", D(2026, 12, 20), None, None),  # day of month already past: next month
        ("明天下午三点", D(2026, 11, 25), "下午", T(15, 0)),
        ("明天三点", D(2026, 11, 25), "下午", T(15, 0)),  # halls are shut at 3 a.m.
        ("明天上午九点半", D(2026, 11, 25), "上午", T(9, 30)),
        ("后天上午10:30", D(2026, 11, 26), "上午", T(10, 30)),
        ("明天中午12点", D(2026, 11, 25), "上午", T(12, 0)),
        ("下周一下午3点半", D(2026, 11, 30), "下午", T(15, 30)),
        ("明天早上", D(2026, 11, 25), "上午", None),
        ("明天中午", D(2026, 11, 25), None, None),  # neither half-day: the agent asks
        ("下礼拜一", D(2026, 11, 30), None, None),
        ("下个礼拜三", D(2026, 12, 2), None, None),
        ("礼拜三", D(2026, 11, 25), None, None),
        ("星期天", D(2026, 11, 29), None, None),
        ("听日", D(2026, 11, 25), None, None),
        ("听日下昼", D(2026, 11, 25), "下午", None),
        ("后日", D(2026, 11, 26), None, None),
        ("大后日", D(2026, 11, 27), None, None),
        ("聽日朝早", D(2026, 11, 25), "上午", None),
        ("明早", D(2026, 11, 25), "上午", None),
        ("我想约明天下午三点去办身份证", D(2026, 11, 25), "下午", T(15, 0)),
        ("不是明天，是后天下午", D(2026, 11, 26), "下午", None),
        ("明天上午不行，下午吧", D(2026, 11, 25), "下午", None),
        ("明天，下午三点吧", D(2026, 11, 25), "下午", T(15, 0)),
        ("下午吧", None, "下午", None),
        ("上午十点", None, "上午", T(10, 0)),
        ("下午两点半", None, "下午", T(14, 30)),
        ("我电话13812345678，明天上午", D(2026, 11, 25), "上午", None),
        ("受理编号GX20261124000123，后天去拿", D(2026, 11, 26), None, None),
        ("下午两点半以后", None, "下午", T(14, 30)),  # after a time: the first slot from then
        ("三点之后", None, "下午", T(15, 0)),
        ("明天下午三点以后", D(2026, 11, 25), "下午", T(15, 0)),
    ],
)
def test_extract_when(
    text: str, day: dt.date | None, period: str | None, clock: dt.time | None
) -> None:
    when = extract_when(text, NOW)
    assert when is not None, text
    assert (when.date, when.period, when.time) == (day, period, clock)


@pytest.mark.parametrize(
    "text", ["我要办身份证", "下周", "好的", "", "13812345678", "身份证后四位1231"]
)
def test_extract_when_without_a_day_or_time(text: str) -> None:
    assert extract_when(text, NOW) is None


def test_extract_whens_gives_every_value_said_in_order() -> None:
    # a correction names the old value beside the new: the caller picks the one that is new
    said = extract_whens("上午唔得，改下午，上午要带孙", NOW)
    assert [w.period for w in said] == ["上午", "下午", "上午"]
    assert extract_whens("我要办身份证", NOW) == ()


def test_extract_when_keeps_the_matched_text() -> None:
    assert extract_when("那就明天下午吧", NOW) == When(D(2026, 11, 25), "下午", None, "明天下午")
    assert extract_when("听日", NOW).text == "明天"


def test_extract_when_uses_beijing_time_whatever_the_server_clock() -> None:
    # 07:00 in Nanning is still the previous day in UTC: 明天 must be Beijing's tomorrow.
    early = dt.datetime(2026, 11, 24, 7, 0, tzinfo=CST)
    assert extract_when("明天", early).date == D(2026, 11, 25)
    assert extract_when("明天", early.astimezone(dt.UTC)).date == D(2026, 11, 25)
    late_utc = dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.UTC)  # 01:00 on the 25th in Nanning
    assert extract_when("今天", late_utc).date == D(2026, 11, 25)


def test_extract_when_rolls_weekdays_from_the_given_now() -> None:
    friday = dt.datetime(2026, 11, 27, 16, 0, tzinfo=CST)
    assert extract_when("周三", friday).date == D(2026, 12, 2)
    assert extract_when("周五", friday).date == D(2026, 11, 27)
    assert extract_when("明天", friday).date == D(2026, 11, 28)


# ── identifiers ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GX20261124000123", "GX20261124000123"),
        ("我的受理编号是gx20261124000123，帮我查下", "GX20261124000123"),
        ("GX 2026 1124 0001 23", "GX20261124000123"),
        ("ＧＸ２０２６１１２４０００１２３", "GX20261124000123"),
        ("g x 二零二六一一二四零零零一二三", "GX20261124000123"),
        ("GX2026112400012", None),  # 13 digits
        ("GX202611240001234", None),  # 15 digits
        ("20261124000123", None),
        ("我想查进度", None),
    ],
)
def test_extract_receipt_no(text: str, expected: str | None) -> None:
    assert extract_receipt_no(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("我电话是13812345678，明天上午去", "13812345678"),
        ("手机 138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("＋８６１３８１２３４５６７８", "13812345678"),
        ("打我电话：１３９００１１２２３３", "13900112233"),
        ("幺三八一二三四五六七八", "13812345678"),
        (f"身份证{ID}电话15977001234", "15977001234"),
        (f"身份证 {ID} 电话 15977001234", "15977001234"),
        (ID, None),  # contains 19900101123, which is not a phone
        ("450102 19900101 1231", None),
        ("GX20261124000123", None),
        ("GX 2026 1381 2345 67", None),
        ("12345678901", None),  # not a mobile prefix
        ("0771-5566120", None),  # a landline
        ("1381234567", None),  # 10 digits
        ("我明天下午想去", None),
    ],
)
def test_extract_phone(text: str, expected: str | None) -> None:
    assert extract_phone(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ID, ID),
        (f"我身份证号是{ID}，手机13812345678", ID),
        ("4501 0219 9001 0112 31", ID),
        (ID_X.lower(), ID_X),
        ("450102199001011232", None),  # wrong check digit
        ("4501021990010112", None),
        ("13812345678", None),
    ],
)
def test_extract_id_number(text: str, expected: str | None) -> None:
    assert extract_id_number(text) == expected


@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("身份证后四位1231", False, "1231"),
        ("后4位是123X", False, "123X"),
        ("后四位是123x", False, "123X"),
        ("身份证号码最后四位：0015", False, "0015"),
        ("身份证后四位是一二三一", False, "1231"),
        ("身份证尾号1231", False, "1231"),
        ("我证件尾号是8876", False, "8876"),
        ("尾号1231", False, None),  # could be a phone's
        ("尾号1231", True, "1231"),
        ("手机尾号5678", True, None),
        ("手机后四位5678", False, None),
        ("手机尾号5678，身份证后四位1231", False, "1231"),
        (f"身份证{ID}", False, "1231"),
        ("1231", False, None),
        ("1231", True, "1231"),
        ("是123X吧", True, "123X"),
        ("13812345678", True, None),
        ("明天下午", True, None),
    ],
)
def test_extract_id_last4(text: str, asked: bool, expected: str | None) -> None:
    assert extract_id_last4(text, asked=asked) == expected


# ── halls ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def halls() -> list[HallRef]:
    rows = json.loads(HALLS_JSON.read_text("utf-8"))
    return [HallRef(i, r["name"], r["city"], tuple(r["aliases"])) for i, r in enumerate(rows, 1)]


CITY_HALL = "南宁市民中心"
DISTRICT_HALL = "南宁市兴宁区政务服务中心"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("南宁市民中心", CITY_HALL),
        ("我想去南宁市民中心办", CITY_HALL),
        ("市民中心", CITY_HALL),
        ("南宁政务中心", CITY_HALL),
        ("南宁", CITY_HALL),
        ("南宁市", CITY_HALL),
        ("南宁市民中新", CITY_HALL),  # ASR homophone
        ("南林市民中心", CITY_HALL),  # n/l merger
        ("南林市民中新", CITY_HALL),  # two characters misheard: only the sound matches
        (DISTRICT_HALL, DISTRICT_HALL),
        ("兴宁区政务中心", DISTRICT_HALL),
        ("去兴宁区办", DISTRICT_HALL),
        ("南宁兴宁区那个大厅", DISTRICT_HALL),
        ("兴宁区政府服务中心", DISTRICT_HALL),  # one character off
        ("星宁区政务中心", DISTRICT_HALL),  # homophone
        ("新宁区正务中心", DISTRICT_HALL),  # two homophones, -ng/-n merged
        ("柳州", "柳州市政务服务中心"),
        ("流州政务中心", "柳州市政务服务中心"),
        ("柳州市民中心", "柳州市政务服务中心"),  # not Nanning's 市民中心
        ("在桂林办", "桂林市政务服务中心"),
        ("临桂政务中心", "桂林市政务服务中心"),
        ("五州", "梧州市政务服务中心"),
        ("梧州办事大厅", "梧州市政务服务中心"),
        ("去北海吧", "北海市政务服务中心"),
        ("白色市政务中心", "百色市政务服务中心"),
        ("玉林市政务服务中心", "玉林市政务服务中心"),
    ],
)
def test_match_hall(halls: list[HallRef], text: str, expected: str) -> None:
    hall = match_hall(text, halls)
    assert hall is not None, text
    assert hall.name == expected


@pytest.mark.parametrize(
    "text",
    ["我想办身份证", "政务中心", "办事大厅", "明天下午", "", "我在柳州想去南宁办", "好的",
     # a city's sound across two words, keeping none of its characters (午走 sounds like 梧州)
     "中午走不开", "上午走得早"],
)
def test_match_hall_returns_none_when_unsure(halls: list[HallRef], text: str) -> None:
    assert match_hall(text, halls) is None


def test_match_hall_district_and_city_halls_stay_apart(halls: list[HallRef]) -> None:
    city, district = match_hall("南宁市民中心", halls), match_hall("兴宁区政务中心", halls)
    assert city is not None and district is not None
    assert city.id != district.id and city.city == district.city == "南宁市"


def test_match_hall_city_with_two_main_halls_is_ambiguous() -> None:
    halls = [HallRef(1, "柳州市政务服务中心", "柳州市"), HallRef(2, "柳州市民服务中心", "柳州市")]
    assert match_hall("柳州", halls) is None
    assert match_hall("柳州市民服务中心", halls) == halls[1]


def test_match_hall_with_no_halls() -> None:
    assert match_hall("南宁市民中心", []) is None


# ── classify_answer ──────────────────────────────────────────────────────────────────────

YES = "确认 好的 好 对 是的 可以 行 没问题 嗯 OK ok 要 约吧 冇问题 系 得 好啊 嗯嗯，确认预约 好的，谢谢！ 对对对 ＯＫ 行吧 可以的 系啊 就这样吧 👍"
NO = (
    "不 不用 算了 取消 不约了 不要了 唔要 唔使 先不 改天 不好 不行 不对 不用了，谢谢 算了吧 "
    "我不想约了 唔得 不不不 改天再说 先不约了 取消吧 没有"
)
OTHER = (
    "那残疾人证呢 明天下午呢? 要带什么材料 是不是要带户口本 可以吗？ 谢谢 换成后天 "
    "我想改到下周一 柳州可以办吗 好不好 嗯？ 改成下午"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, "yes") for t in YES.split()]
    + [(t, "no") for t in NO.split()]
    + [(t, "other") for t in OTHER.split()]
    + [("", "other"), ("   ", "other"), ("好 的", "yes")],
)
def test_classify_answer(text: str, expected: str) -> None:
    assert classify_answer(text) == expected
