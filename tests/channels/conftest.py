"""A running app on the test's private demo database, with the agent's clock fixed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp import web

from tests.conftest import NOW
from tongban.agent.service import Agent
from tongban.channels.app.server import create_app
from tongban.channels.app.settings import ChannelSettings
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.store import Store


@pytest.fixture
def channel_settings() -> ChannelSettings:
    return ChannelSettings(env="test", session_secret="test-session-secret-0123456789")


@pytest.fixture
def make_app(store: Store, service_index, channel_settings: ChannelSettings) -> Callable[..., web.Application]:  # type: ignore[no-untyped-def]
    def make(settings: ChannelSettings | None = None, *, app_store: Store | None = None) -> web.Application:
        def agent(s: Store) -> Agent:
            return Agent(s, clock=lambda: NOW, index=service_index, checkpointer=sqlite_checkpointer(":memory:"))

        return create_app(settings or channel_settings, store=app_store or store, agent_factory=agent)

    return make
