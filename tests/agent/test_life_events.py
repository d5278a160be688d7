"""高效办成一件事: after an answer or a booking, the next items of the life event, from data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlmodel import func, select

from tests.agent.conftest import Chat
from tests.conftest import TODAY
from tongban.agent.service import Agent
from tongban.memory.catalog import read_rows
from tongban.memory.demo import life_event_rows, load_demo
from tongban.memory.life_events import import_life_events
from tongban.memory.models import LifeEvent
from tongban.memory.residents import Identity
from tongban.memory.store import Store
from tongban.tools.life_events import next_items

OFFER = "办完这个，您可能还需要："
BIRTH = [["出生医学证明办理"], ["出生登记"], ["城乡居民基本医疗保险参保登记"], ["社会保障卡申领"]]
MOVE = [["户口迁移", "居住证办理"], ["医保关系转移接续"], ["社会保障卡申领"], ["义务教育阶段入学报名"]]


def test_next_items_follow_the_event_and_skip_what_is_done_or_offered() -> None:
    assert next_items([BIRTH], "出生医学证明办理", done=set(), offered=set()) == [
        "出生登记", "城乡居民基本医疗保险参保登记", "社会保障卡申领"]
    assert next_items([BIRTH], "出生医学证明办理", done={"出生登记"}, offered={"社会保障卡申领"}) == [
        "城乡居民基本医疗保险参保登记"]
    assert next_items([BIRTH], "社会保障卡申领", done=set(), offered=set()) == []  # the last step
    assert next_items([BIRTH], "结婚登记", done=set(), offered=set()) == []  # in no event


def test_alternatives_are_satisfied_by_either_and_offers_stop_at_three() -> None:
    # 居住证 instead of 户口迁移: the step is done; several events never give more than three
    assert next_items([MOVE], "居住证办理", done=set(), offered=set()) == [
        "医保关系转移接续", "社会保障卡申领", "义务教育阶段入学报名"]
    marriage = [["结婚登记"], ["户口迁移"], ["生育登记"]]
    assert next_items([marriage, MOVE], "户口迁移", done=set(), offered=set()) == [
        "生育登记", "医保关系转移接续", "社会保障卡申领"]
    assert next_items([[["居住证办理"], ["户口迁移", "医保关系转移接续"]]], "居住证办理", done=set(),
                      offered={"户口迁移"}) == ["医保关系转移接续"]


def test_demo_events_load_idempotently_and_name_real_items(store: Store) -> None:
    with store.session() as session:
        assert session.exec(select(func.count(LifeEvent.id))).one() == len(life_event_rows())
        load_demo(session, store.vault, today=TODAY)
        assert session.exec(select(func.count(LifeEvent.id))).one() == len(life_event_rows())
        assert {e.name for e in session.exec(select(LifeEvent))} >= {"出生", "退休", "结婚", "开店", "迁居"}


def test_import_reports_unknown_items_and_upserts_by_code(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([
        {"code": "LE-BIRTH", "name": "出生", "steps": ["出生医学证明办理", "出生登记"]},
        {"code": "LE-X", "name": "无此事", "steps": ["没有这个事项"]},
        {"code": "LE-Y", "name": "空", "steps": []},
    ], ensure_ascii=False), encoding="utf-8")
    with store.session() as session:
        report = import_life_events(session, read_rows(path))
        assert report.imported == 1
        assert [line for line, _ in report.errors] == [2, 3]
        assert "没有这个事项" in report.errors[0][1]
        birth = session.exec(select(LifeEvent).where(LifeEvent.code == "LE-BIRTH")).one()
        assert birth.steps == [["出生医学证明办理"], ["出生登记"]]


def test_a_lookup_offers_the_next_steps_once(chat: Chat) -> None:
    reply = chat.say("出生医学证明怎么办理")
    assert reply.item == "出生医学证明办理"
    assert f"{OFFER}出生登记、城乡居民基本医疗保险参保登记、社会保障卡申领。" in reply.text
    assert reply.text.count(OFFER) == 1
    again = chat.say("新生儿上户口要什么材料")  # the next item: everything after it was offered already
    assert again.item == "出生登记"
    assert OFFER not in again.text


def test_what_the_resident_has_done_is_not_offered(make_agent: Callable[..., Agent]) -> None:
    # 陆志强's 出生登记 application is in the demo data: once verified, it counts as done
    parent = Identity(name="陆志强", phone="13167851490", id_number="450102199007261856")
    reply = Chat(make_agent(), user="o-parent", identity=parent).say("出生证明怎么办")
    assert f"{OFFER}城乡居民基本医疗保险参保登记、社会保障卡申领。" in reply.text
    # items remembered from earlier conversations count too
    other = Chat(make_agent(), user="o-other")
    other.say("社保卡怎么办")
    assert "社会保障卡申领" not in other.say("城乡居民医保怎么参保").text.split(OFFER)[-1]


def test_a_booking_offers_the_next_steps(chat: Chat) -> None:
    chat.say("我想预约办个体户营业执照，南宁市民中心，后天上午")
    booked = chat.say("确认")
    assert "预约成功" in booked.text
    assert f"{OFFER}食品经营许可证办理" in booked.text
