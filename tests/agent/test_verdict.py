"""Reading an answer to a confirmation question: only a yes to exactly what was offered is a yes.
The words are data (answers.tsv, cues.tsv confirm_<action>, hesitate); these say what the reading
does with them: repeats of the offer, the action's own verb, a remark before the yes, a pause."""

from __future__ import annotations

import datetime as dt

import pytest

from tongban.agent.brains.slots import HallRef
from tongban.agent.verdict import verdict
from tongban.memory.clock import SHANGHAI

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)  # a Tuesday
HALLS = [HallRef(1, "南宁市民中心", "南宁市", ("市民中心",)), HallRef(2, "柳州市政务服务中心", "柳州市")]
OFFER = "11月27日（周五）上午09:00-09:30，南宁市民中心"


def read(text: str, action: str = "book", names: tuple[str, ...] = ()) -> str:
    return verdict(text, action, names=names, offered=OFFER, now=NOW, halls=HALLS)


@pytest.mark.parametrize("text", ["好，就周五上午那个", "行，九点那个就得", "得，就去市民中心", "好嘅，就27号上午，唔该晒靓女"])
def test_repeating_what_was_offered_is_a_yes(text: str) -> None:
    assert read(text) == "yes"


@pytest.mark.parametrize("text", ["好，就礼拜四上午", "行，改下午", "得，去柳州", "好，十点那个"])
def test_naming_another_day_time_or_hall_is_no_yes(text: str) -> None:
    assert read(text) == "other"


def test_the_item_named_beside_the_verb_is_a_yes() -> None:
    assert read("好，社保卡嗰个照约", names=("社保卡",)) == "yes"
    assert read("好，护照嗰个照约", names=("社保卡",)) == "other"  # another item is not this booking


@pytest.mark.parametrize("text", ["商量过了，她说行，约吧", "明白了，那帮我约", "赶得及，可以的"])
def test_a_remark_before_the_yes_is_a_yes(text: str) -> None:
    assert read(text) == "yes"


@pytest.mark.parametrize("text", ["明天没空，好", "要带什么，好的", "我想改到下午，可以", "护照也要办，好"])
def test_a_clause_that_refuses_asks_or_changes_is_no_remark(text: str) -> None:
    assert read(text) == "other"


@pytest.mark.parametrize(("text", "action", "expected"), [
    ("系，取消", "cancel", "yes"), ("对，唔去了", "cancel", "yes"), ("不要取消", "cancel", "no"),
    ("改吧，唔该", "reschedule", "yes"), ("好，改过去", "reschedule", "yes"), ("系，帮我转", "reschedule", "yes"),
    ("不用改", "reschedule", "no"), ("无问题，订咗", "book", "yes"), ("对的，提交", "book", "yes"),
    ("好，就定下来", "book", "yes"), ("别约", "book", "no"),
])
def test_the_actions_own_verb(text: str, action: str, expected: str) -> None:
    assert read(text, action) == expected


def test_holding_off_is_neither_yes_nor_no() -> None:
    assert read("暂时唔好约住，等房东回复") == "other"
    assert read("等我打个电话问下我老婆") == "other"
    assert read("等一下，不用了") == "no"  # the refusal is not the pause's own


@pytest.mark.parametrize("text", ["就九点", "就27号上午那个啦", "周五上午", "市民中心就得"])
def test_repeating_the_offer_with_nothing_else_said_is_a_yes(text: str) -> None:
    assert read(text) == "yes"


@pytest.mark.parametrize(("text", "expected"), [("就十点", "other"), ("九点吗", "other"), ("九点不行", "no"),
                                                ("九点，顺便问下材料", "other")])
def test_a_repeat_beside_another_value_a_question_or_a_refusal_is_no_yes(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text", ["唔算太贵，帮我订", "不远，订吧", "还不算太麻烦，就九点啦", "唔系好贵，约啦"])
def test_a_judgement_on_what_was_answered_is_a_remark_before_the_yes(text: str) -> None:
    assert read(text) == "yes"


@pytest.mark.parametrize(("text", "expected"), [("不好，约吧", "no"), ("唔系，约后日", "other"), ("不贵", "other")])
def test_a_negation_that_judges_nothing_still_refuses_or_changes(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(("text", "action"), [("对，挪过去", "reschedule"), ("挪吧", "reschedule"),
                                               ("确定撤掉", "cancel"), ("撤咗佢", "cancel")])
def test_moving_and_withdrawing_verbs_confirm_their_action(text: str, action: str) -> None:
    assert read(text, action) == "yes"


@pytest.mark.parametrize("text", ["好的，我晓得了", "行，明白了", "嗯嗯知道了"])
def test_an_acknowledgement_of_what_was_answered_is_no_yes(text: str) -> None:
    assert read(text) == "other"


@pytest.mark.parametrize("text", ["晓得了，帮我约起", "明白了，约吧", "知道了，确认"])
def test_an_acknowledgement_with_the_verb_or_a_yes_is_a_yes(text: str) -> None:
    assert read(text) == "yes"


def test_the_offers_weekday_alone_repeats_it_and_another_weekday_does_not() -> None:
    later = "12月4日（周五）下午14:30-15:00，南宁市民中心"
    assert verdict("对，改到周五", "reschedule", offered=later, now=NOW, halls=HALLS) == "yes"
    assert verdict("对，改到周四", "reschedule", offered=later, now=NOW, halls=HALLS) == "other"
