"""PostgreSQL disappearing and returning: polite refusals while it is gone, no restart after.

The app reaches the database (and the checkpoint store) through a TCP proxy that the test
cuts — listening socket closed, open connections dropped — and restores.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from tests.conftest import NOW
from tests.helpers.proxy import Proxy
from tongban.agent.service import Agent
from tongban.channels.app.server import create_app
from tongban.channels.app.settings import ChannelSettings
from tongban.memory.checkpoints import make_checkpointer
from tongban.memory.models import Appointment
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages

HEADERS = {"X-Requested-With": "fetch"}


async def ask(client, text: str):  # type: ignore[no-untyped-def]
    response = await client.post("/api/web/messages", json={"text": text}, headers=HEADERS)
    return response.status, await response.text()


async def test_the_database_going_away_and_coming_back(aiohttp_client, pg_store: Store, service_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = make_url(pg_store.settings.url)
    async with Proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        store = Store.from_settings(MemorySettings(env="test", database_url=proxied, data_dir=tmp_path,
                                                   secret_key="test-secret-key-0123456789"))

        def agent(s: Store) -> Agent:
            return Agent(s, clock=lambda: NOW, index=service_index, checkpointer=make_checkpointer(s.settings))

        settings = ChannelSettings(env="test", session_secret="test-session-secret-0123456789")
        client = await aiohttp_client(create_app(settings, store=store, agent_factory=agent))
        assert (await ask(client, "我想预约明天上午去南宁市民中心换身份证"))[0] == 200
        status, booked = await ask(client, "确认")
        assert status == 200 and "预约成功" in booked

        await proxy.cut()
        started = time.monotonic()
        status, body = await ask(client, "身份证到期了怎么换")
        refused_in = time.monotonic() - started
        print(f"database gone: answered {status} in {refused_in:.2f} s")
        assert status == 503, body
        assert "稍后" in body and "Traceback" not in body and "psycopg" not in body
        ready = await client.get("/readyz")
        assert ready.status == 503 and (await ready.json())["database"] is False
        assert refused_in < 10

        await proxy.restore()
        status, body = await ask(client, "身份证到期了怎么换")
        assert status == 200 and "身份证" in body, "back without a restart"
        assert (await client.get("/readyz")).status == 200
        status, mine = await ask(client, "我的预约")
        assert status == 200 and "南宁市民中心" in mine
        await client.close()
        store.dispose()
    with pg_store.session() as session:
        assert len(session.exec(select(Appointment)).all()) == 1, "nothing stored was lost"
