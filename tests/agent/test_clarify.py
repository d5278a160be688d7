"""Ask when unsure (#18): a close call between items becomes one short question, the answer
picks; with a model configured the model picks in a bounded call, never inventing an item."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from tests.helpers.fakes import ScriptedChatModel, call
from tongban.agent.brains import choose, clarify
from tongban.tools.retrieval import Hit

PASSPORT = {"code": "450000-GA-0007", "name": "普通护照签发"}
HK = {"code": "450000-GA-0008", "name": "往来港澳通行证及签注"}
ID = {"code": "450000-GA-0001", "name": "居民身份证换领"}


def hit(item: dict[str, str], score: float, margin: float, **signals: float) -> Hit:
    return Hit(item_id=1, code=item["code"], name=item["name"], department="公安", legal_basis=(),
               passage=item["name"], score=score, signals={"margin": margin, **signals})


def test_a_close_call_offers_the_close_items_best_first() -> None:
    hits = [hit(PASSPORT, 0.80, 0.01), hit(HK, 0.79, 0.2), hit(ID, 0.40, 0.1)]
    assert clarify.choices(hits, named=False) == [PASSPORT, HK]


def test_a_clear_or_named_first_hit_is_answered_not_asked() -> None:
    clear = [hit(PASSPORT, 0.9, 0.3), hit(HK, 0.5, 0.1)]
    assert clarify.choices(clear, named=False) is None
    close = [hit(PASSPORT, 0.80, 0.01), hit(HK, 0.79, 0.2)]
    assert clarify.choices(close, named=True) is None
    settled = [hit(PASSPORT, 0.80, 0.01, dense_skipped=1.0), hit(HK, 0.79, 0.2)]
    assert clarify.choices(settled, named=False) is None


def test_the_question_is_numbered_for_elderly_residents_and_sms() -> None:
    text, quick = clarify.question([PASSPORT, HK], numbered=True)
    assert "1. 普通护照签发" in text and "2. 往来港澳通行证及签注" in text and quick == ["1", "2"]
    text, quick = clarify.question([PASSPORT, HK], numbered=False)
    assert "普通护照签发" in text and "1." not in text and quick == ["普通护照签发", "往来港澳通行证及签注"]


@pytest.mark.parametrize(
    ("answer", "picked"),
    [("2", HK), ("第二个", HK), ("二", HK), ("１", PASSPORT), ("第一个吧", PASSPORT), ("最后一个", ID),
     ("港澳通行证", HK), ("护照", PASSPORT), ("往来港澳通行證及簽注", HK), ("身份证换领", ID)],
)
def test_the_answer_picks_by_number_name_or_part(answer: str, picked: dict[str, str]) -> None:
    assert clarify.pick(answer, [PASSPORT, HK, ID]) == picked


@pytest.mark.parametrize("answer", ["4", "我想预约明天上午", "转人工", "都不是", ""])
def test_an_answer_that_picks_nothing_is_a_new_message(answer: str) -> None:
    assert clarify.pick(answer, [PASSPORT, HK, ID]) is None


def test_the_model_picks_by_number_among_the_candidates_only() -> None:
    model = ScriptedChatModel(script=[AIMessage("2"), AIMessage("0"), AIMessage("7"), call("search_services", query="x")])
    assert choose.pick(model, "去香港要办什么", [PASSPORT, HK]) == HK
    prompt = model.prompts[0][-1].content
    assert "1. 普通护照签发" in prompt and "2. 往来港澳通行证及签注" in prompt and "0. 都不是" in prompt
    assert choose.pick(model, "去香港要办什么", [PASSPORT, HK]) is None
    with pytest.raises(choose.Unanswered):
        choose.pick(model, "去香港要办什么", [PASSPORT, HK])  # no candidate 7
    with pytest.raises(choose.Unanswered):
        choose.pick(model, "去香港要办什么", [PASSPORT, HK])  # a tool call is no answer


def test_personal_data_never_reaches_the_picking_model() -> None:
    model = ScriptedChatModel(script=[AIMessage("1")])
    choose.pick(model, "我身份证450102199001011231丢了", [ID, PASSPORT])
    assert "450102199001011231" not in model.seen()
