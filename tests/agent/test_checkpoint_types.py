"""Checkpoints revive only registered types: LangGraph warns today about anything else and will
block it (its strict mode, LANGGRAPH_STRICT_MSGPACK, blocks it already), so every type a
conversation leaves in its checkpoint must be registered or stored as a plain value."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener

from tests.agent.conftest import TESTER, Chat
from tests.conftest import NOW
from tongban.agent.service import Agent
from tongban.memory.checkpoints import serializer, sqlite_checkpointer
from tongban.memory.models import Handoff, HandoffStatus
from tongban.memory.store import Store
from tongban.tools.handoff import hand_back


@dataclass
class Foreign:  # a type nobody registered
    value: str


@pytest.fixture
def serde_events() -> Iterator[list[SerdeEvent]]:
    events: list[SerdeEvent] = []
    unregister = register_serde_event_listener(events.append)
    yield events
    unregister()


def test_the_serializer_is_strict_and_knows_the_projects_types() -> None:
    serde = serializer()
    assert serde.loads_typed(serde.dumps_typed({"s": HandoffStatus.WAITING}))["s"] is HandoffStatus.WAITING
    revived = serde.loads_typed(serde.dumps_typed({"x": Foreign("a")}))["x"]
    assert not isinstance(revived, Foreign), "an unregistered type is not revived"


def test_a_conversation_round_trips_through_its_checkpoint_in_strict_mode(
        store: Store, service_index, tmp_path: Path, serde_events: list[SerdeEvent]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "checkpoints.db"
    agent = Agent(store, clock=lambda: NOW, index=service_index, checkpointer=sqlite_checkpointer(path))
    chat = Chat(agent, identity=TESTER)
    chat.say("我想预约明天上午去南宁市民中心换身份证")
    chat.say("确认")
    assert chat.say("转人工").handoff  # the tool result holds the handoff's status
    with store.session() as session:
        resident_id = session.get(Handoff, 1).resident_id  # type: ignore[union-attr]
        hand_back(session, resident_id=resident_id, staff="wangfang")
    chat.say("身份证到期了怎么换")  # the bot reads the checkpoint back
    asked = chat.say("帮我填住房公积金提取（租房）的申请表")
    assert "请提供" in asked.text or "请问" in asked.text  # a form waits in the checkpoint
    config = {"configurable": {"thread_id": f"resident:{resident_id}"}}
    before = [s.values for s in agent.graph.get_state_history(config)]

    fresh = Agent(store, clock=lambda: NOW, index=service_index, checkpointer=sqlite_checkpointer(path))
    after = [s.values for s in fresh.graph.get_state_history(config)]
    assert after == before and len(after) == 5  # one checkpoint a turn
    statuses = [r["data"]["status"] for values in after for r in values.get("results", [])
                if r["name"] == "handoff" and r["status"] == "success"]
    assert statuses and all(isinstance(s, HandoffStatus) for s in statuses), "revived as the enum"
    assert serde_events == [], f"types revived without registration, or blocked: {serde_events}"
