"""Agents on a private demo database, with the clock fixed to the test's NOW."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import NOW
from tongban.agent.brains.base import Brain
from tongban.agent.messages import Inbound, Reply
from tongban.agent.service import Agent
from tongban.memory.residents import Identity
from tongban.memory.store import Store

TESTER = Identity(name="测试用户", phone="13800000000", id_number="450102199001011231")


class Chat:
    """One resident talking to an agent; `say` returns the agent's reply."""

    def __init__(self, agent: Agent, *, user: str = "o-tester", identity: Identity | None = TESTER,
                 channel: str = "wechat") -> None:
        self.agent, self.user, self.identity, self.channel = agent, user, identity, channel

    def say(self, text: str) -> Reply:
        return self.agent.respond_sync(
            Inbound(channel=self.channel, user_id=self.user, text=text, at=NOW, identity=self.identity)
        )


@pytest.fixture
def make_agent(store: Store, service_index) -> Callable[..., Agent]:  # type: ignore[no-untyped-def]
    def make(brain: Brain | None = None, fallback: Brain | None = None) -> Agent:
        from tongban.memory.checkpoints import sqlite_checkpointer

        return Agent(store, brain=brain, fallback=fallback, clock=lambda: NOW, index=service_index,
                     checkpointer=sqlite_checkpointer(":memory:"))

    return make


@pytest.fixture
def chat(make_agent: Callable[..., Agent]) -> Chat:
    return Chat(make_agent())
