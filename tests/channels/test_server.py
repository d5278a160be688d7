"""The app's own endpoints: alive, ready, metrics."""

from __future__ import annotations

from sqlalchemy import text

from tongban.channels import keys
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
    from tongban.channels.metrics import DEADLINES

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
