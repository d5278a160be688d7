"""The app's own endpoints: alive, ready, metrics."""

from __future__ import annotations

from sqlalchemy import text

from channels import keys
from memory.db import make_engine


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
    await client.app[keys.AGENT].respond(__import__("agent.messages", fromlist=["Inbound"]).Inbound("web", "m1", "你好"))
    body = await (await client.get("/metrics")).text()
    assert "tongban_turns_total" in body and 'channel="web"' in body
    assert "tongban_turn_seconds_bucket" in body
