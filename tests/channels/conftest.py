"""A running app on the test's private demo database, with the agent's clock fixed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import NOW
from tests.helpers.wechat_oa import APP_ID, FAST, SECRET, CountingAgent, wechat_settings
from tests.helpers.wechat_server import FakeWeChat
from tongban.agent.service import Agent
from tongban.channels.app.server import create_app
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.wechat.oa.webhook import WECHAT
from tongban.memory.checkpoints import make_checkpointer, sqlite_checkpointer
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


@pytest.fixture
async def tencent(aiohttp_server):  # type: ignore[no-untyped-def]
    fake = FakeWeChat(APP_ID, SECRET)
    server = await aiohttp_server(fake.app())
    fake.base = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def make_wechat(store: Store, service_index, tencent: FakeWeChat) -> Callable[..., web.Application]:  # type: ignore[no-untyped-def]
    """An app with the channel on, its agent counting; `app_store` for PostgreSQL replicas."""

    def make(*, app_store: Store | None = None, shared_checkpoints: bool = False, **overrides: Any) -> web.Application:
        def agent(s: Store) -> Agent:
            checkpointer = make_checkpointer(s.settings) if shared_checkpoints else sqlite_checkpointer(":memory:")
            return CountingAgent(s, clock=lambda: NOW, index=service_index, checkpointer=checkpointer)

        app = create_app(wechat_settings(tencent, **overrides), store=app_store or store, agent_factory=agent)
        app[WECHAT].retry = FAST
        return app

    return make
