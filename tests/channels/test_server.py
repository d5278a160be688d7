"""The app's own endpoints: alive, ready, metrics."""

from __future__ import annotations

from sqlalchemy import text

from tongban.channels.app import keys
from tongban.memory.db import make_engine


async def test_health_and_readiness(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json()) == {"ready": True, "database": True, "agent": True}


async def test_not_ready_when_the_database_is_gone_but_still_alive(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    store = client.app[keys.STORE]
    original = store.engine
    store.engine = make_engine("postgresql://postgres@127.0.0.1:1/gone")  # nothing listens there
    try:
        ready = await client.get("/readyz")
        assert ready.status == 503 and (await ready.json())["database"] is False
        assert (await client.get("/healthz")).status == 200
    finally:
        store.engine.dispose()
        store.engine = original
    assert (await client.get("/readyz")).status == 200, "ready again when the database returns"
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


async def test_metrics_are_exposed(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    await client.app[keys.AGENT].respond(__import__("tongban.agent.messages", fromlist=["Inbound"]).Inbound("web", "m1", "你好"))
    body = await (await client.get("/metrics")).text()
    assert "tongban_turns_total" in body and 'channel="web"' in body
    assert "tongban_turn_seconds_bucket" in body


async def test_gateway_acks_are_timed_and_late_ones_counted(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    from tongban.channels.app.metrics import DEADLINES

    DEADLINES["/test-slow"] = ("test", 0.01)
    app = make_app()

    async def slow(_request):  # type: ignore[no-untyped-def]
        await __import__("asyncio").sleep(0.05)
        return __import__("aiohttp").web.Response(text="success")

    app.router.add_post("/test-slow", slow)
    client = await aiohttp_client(app)
    assert (await client.post("/test-slow")).status == 200
    body = await (await client.get("/metrics")).text()
    assert 'tongban_acks_late_total{channel="test"} 1.0' in body
    assert 'tongban_ack_seconds_count{channel="test"} 1.0' in body
    del DEADLINES["/test-slow"]


async def test_the_port_answers_while_the_agent_loads_and_says_it_is_getting_ready(  # type: ignore[no-untyped-def]
    aiohttp_client, store, service_index, channel_settings
) -> None:
    """`tongban serve` opens its port at once: probes and the page answer, what needs the agent
    says in plain Chinese that it is getting ready, and everything answers once it has loaded."""
    import asyncio
    import threading

    from tests.conftest import NOW
    from tongban.agent.service import Agent
    from tongban.channels.app.server import create_app
    from tongban.memory.checkpoints import sqlite_checkpointer

    loaded = threading.Event()

    def slow_agent(s):  # type: ignore[no-untyped-def]
        loaded.wait(30)  # the index build, held until the test lets it finish
        return Agent(s, clock=lambda: NOW, index=service_index, checkpointer=sqlite_checkpointer(":memory:"))

    app = create_app(channel_settings, store=store, agent_factory=slow_agent, load_in_background=True)
    client = await aiohttp_client(app)
    assert (await client.get("/healthz")).status == 200
    page = await client.get("/")
    assert page.status == 200 and "通办" in await page.text()
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 503 and body["agent"] is False and body["database"] is True
    assert "agent" in body["loading"] and body["estimate_s"] >= 1
    asked = await client.post("/api/web/messages", json={"text": "身份证到期了怎么换"},
                              headers={"X-Requested-With": "XMLHttpRequest"})
    raw = await asked.text()
    assert asked.status == 503 and int(asked.headers["Retry-After"]) >= 1
    assert "正在准备" in raw and "\\u" not in raw, "the error is readable Chinese, not \\u escapes"

    loaded.set()
    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.05)
    assert (await client.get("/readyz")).status == 200
    answered = await client.post("/api/web/messages", json={"text": "身份证到期了怎么换"},
                                 headers={"X-Requested-With": "XMLHttpRequest"})
    assert answered.status == 200 and "居民身份证" in (await answered.json())["text"]
    assert client.app[keys.CLOCK]() == NOW, "business rules read the agent's clock once it is loaded"


async def test_an_unconfigured_channel_warns_nothing(aiohttp_client, make_app, caplog) -> None:  # type: ignore[no-untyped-def]
    """Start-up warnings name only what is configured and broken: SMS and voice left alone are
    simply off (said at INFO), not a warning an operator learns to ignore."""
    import logging

    with caplog.at_level(logging.INFO):
        await aiohttp_client(make_app())
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "sms" in w.lower() or "voice" in w.lower()], warnings
    infos = " ".join(r.getMessage() for r in caplog.records)
    assert "sms: off" in infos and "voice: off" in infos
