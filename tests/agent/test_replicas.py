"""Two agent replicas on one PostgreSQL: one resident's messages never interleave or get lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select

from tests.agent.conftest import TESTER
from tests.conftest import NOW
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent
from tongban.memory.checkpoints import make_checkpointer
from tongban.memory.models import Appointment
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # replicas on PostgreSQL


def test_messages_split_across_replicas_all_land_in_one_thread(pg_store: Store, service_index) -> None:  # type: ignore[no-untyped-def]
    replicas = [
        Agent(pg_store, clock=lambda: NOW, index=service_index, checkpointer=make_checkpointer(pg_store.settings))
        for _ in range(2)
    ]
    texts = [f"我想办居住证，第{n}次问" if n % 2 else "要带什么材料" for n in range(8)]  # 16 messages: under the history trim

    def send(n: int) -> None:
        replicas[n % 2].respond_sync(Inbound("wechat", "o-split", texts[n], at=NOW))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, range(len(texts))))
    state = replicas[0].graph.get_state({"configurable": {"thread_id": "resident:1"}})
    humans = [m.content for m in state.values["messages"] if m.type == "human"]
    assert sorted(humans) == sorted(texts), "no turn was lost to a concurrent one"


def test_a_booking_confirmed_on_both_replicas_books_once(pg_store: Store, service_index) -> None:  # type: ignore[no-untyped-def]
    replicas = [
        Agent(pg_store, clock=lambda: NOW, index=service_index, checkpointer=make_checkpointer(pg_store.settings))
        for _ in range(2)
    ]
    replicas[0].respond_sync(Inbound("wechat", "o-twice", "预约明天上午南宁市民中心换身份证", at=NOW, identity=TESTER))
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda agent: agent.respond_sync(
            Inbound("wechat", "o-twice", "确认", at=NOW, identity=TESTER)), replicas))
    with pg_store.session() as session:
        assert len(session.exec(select(Appointment)).all()) == 1
