"""A running app on the test's private demo database, with the agent's clock fixed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import NOW
from tests.helpers.console import add_accounts
from tests.helpers.wechat_oa import APP_ID, FAST, SECRET, CountingAgent, wechat_settings
from tests.helpers.wechat_server import FakeWeChat
from tongban.agent.service import Agent
from tongban.channels.app.server import create_app
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.wechat.oa.webhook import WECHAT
from tongban.memory.checkpoints import make_checkpointer, sqlite_checkpointer
from tongban.memory.store import Store
from tongban.tools.services import ServiceIndex
from tongban.tools.settings import ToolsSettings


@pytest.fixture
def channel_settings() -> ChannelSettings:
    """One replica: a page it holds is sent to before staff's wait begins, and no other replica
    can take a message, so `live_wait_s` would only delay an undelivered reply (1.5 s each);
    tests/channels/test_replicas_live.py sets it for two replicas."""
    return ChannelSettings(env="test", session_secret="test-session-secret-0123456789", live_wait_s=0)


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


@pytest.fixture
def app(store, service_index, channel_settings, tmp_path):  # type: ignore[no-untyped-def]
    """The console over the test's own index, so a catalog edit here is seen by this agent only
    (console questions and learned phrases); modules with an `app` of their own override it."""
    add_accounts(store)
    shutil.copytree(service_index.settings.resolved_index_dir(service_index.store.settings), tmp_path / "index")
    index = ServiceIndex(store, ToolsSettings(index_dir=tmp_path / "index"), check_interval=float("inf"))

    def agent(s):  # type: ignore[no-untyped-def]
        return Agent(s, clock=lambda: NOW, index=index, checkpointer=sqlite_checkpointer(":memory:"))

    return create_app(channel_settings, store=store, agent_factory=agent)
