"""Conversation storage stays bounded, and pruning never breaks a conversation in progress."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlmodel import select

from tests.agent.conftest import TESTER
from tests.conftest import NOW
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent
from tongban.memory.checkpoints import apply_retention, sqlite_checkpointer
from tongban.memory.models import Appointment
from tongban.memory.store import Store


def _count(saver, thread: str) -> int:  # type: ignore[no-untyped-def]
    return len(list(saver.list({"configurable": {"thread_id": thread}})))


def test_pruning_keeps_the_latest_state_and_a_pending_confirmation(store: Store, service_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    saver = sqlite_checkpointer(tmp_path / "checkpoints.db")
    agent = Agent(store, clock=lambda: NOW, index=service_index, checkpointer=saver)
    for text in ("你好", "身份证到期了怎么换", "要带什么材料", "预约明天上午南宁市民中心"):
        agent.respond_sync(Inbound("wechat", "o-keep", text, at=NOW, identity=TESTER))
    thread = "resident:1"
    assert _count(saver, thread) == 4, "one checkpoint per turn"
    pruned, deleted = apply_retention(saver, now=NOW, idle_days=30)
    assert (pruned, deleted) == (1, 0)
    assert _count(saver, thread) == 1
    reply = agent.respond_sync(Inbound("wechat", "o-keep", "确认", at=NOW, identity=TESTER))
    assert "预约成功" in reply.text
    with store.session() as session:
        assert len(session.exec(select(Appointment)).all()) == 1


def test_idle_conversations_are_deleted(store: Store, service_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    saver = sqlite_checkpointer(tmp_path / "checkpoints.db")
    agent = Agent(store, clock=lambda: NOW, index=service_index, checkpointer=saver)
    agent.respond_sync(Inbound("web", "old-visitor", "你好", at=NOW))
    assert apply_retention(saver, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=31), idle_days=30) == (0, 1)
    assert _count(saver, "resident:1") == 0


def test_pruning_on_postgresql(pg_store: Store, service_index) -> None:  # type: ignore[no-untyped-def]
    from tongban.memory.checkpoints import make_checkpointer

    saver = make_checkpointer(pg_store.settings)
    agent = Agent(pg_store, clock=lambda: NOW, index=service_index, checkpointer=saver)
    for text in ("身份证到期了怎么换", "预约明天上午南宁市民中心"):
        agent.respond_sync(Inbound("wechat", "o-pg", text, at=NOW, identity=TESTER))
    assert apply_retention(saver, now=NOW, idle_days=30) == (1, 0)
    assert _count(saver, "resident:1") == 1
    assert "预约成功" in agent.respond_sync(Inbound("wechat", "o-pg", "确认", at=NOW, identity=TESTER)).text
