"""Two replicas on one database: a staff message reaches the resident's page exactly once,
whichever replica holds the page, or waits for the page's next connection or poll."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
from sqlmodel import select

from tests.helpers.console import act, add_accounts, ask, origin, queue, sign_in
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.console.auth import CONSOLE_SETTINGS
from tongban.channels.console.settings import ConsoleSettings
from tongban.channels.web.chat import COOKIE
from tongban.channels.web.live import REPLICA_HEADER
from tongban.memory.models import LiveMessage, TranscriptMessage

NO_PAGE_WAIT = 0.5  # s; the replicas sweep every 0.2 s


@pytest.fixture
def replicas(make_app, any_store):  # type: ignore[no-untyped-def]
    """Two apps, "a" and "b", on the same database (SQLite shared by both, or PostgreSQL).

    Staff wait `wait` seconds to hear the other replica delivered: long where it must (a loaded
    machine), short where no page is open anywhere, as the wait then runs out in full each time
    (still more than two sweeps, in which a replica that took the message wrongly would show)."""
    add_accounts(any_store)

    def make(name: str, wait: float = 2.0):  # type: ignore[no-untyped-def]
        settings = ChannelSettings(env="test", session_secret="test-session-secret-0123456789", replica_name=name,
                                   live_sweep_s=0.2, live_wait_s=wait)
        app = make_app(settings, app_store=any_store)
        app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05)
        return app

    return make


async def _handed_over(aiohttp_client, replicas, any_store, wait: float = 2.0):  # type: ignore[no-untyped-def]
    a, b = await aiohttp_client(replicas("a", wait)), await aiohttp_client(replicas("b", wait))
    await ask(a, "身份证到期了怎么换")
    assert (await ask(a, "转人工"))["handoff"] is True
    staff = b  # the console on the other replica
    headers = await sign_in(staff, "wangfang")
    [row] = await queue(staff)
    return a, b, staff, headers, row["handoff_id"]


async def test_a_reply_written_on_one_replica_reaches_the_page_on_the_other_once(aiohttp_client, replicas,
                                                                                any_store) -> None:  # type: ignore[no-untyped-def]
    a, b, staff, headers, handoff_id = await _handed_over(aiohttp_client, replicas, any_store)
    page = await a.ws_connect("/api/web/live", headers=origin(a))
    assert page._response.headers[REPLICA_HEADER] == "a"
    assert (await act(staff, headers, handoff_id, "claim")).status == 200
    joined = json.loads((await page.receive(timeout=5)).data)
    assert joined["status"] == "claimed"

    sent = await act(staff, headers, handoff_id, "reply", text="您好，请带上旧证和户口本。")
    assert sent.status == 200 and (await sent.json())["message"]["delivered"] is True
    got = json.loads((await page.receive(timeout=5)).data)
    assert got["text"] == "您好，请带上旧证和户口本。" and got["role"] == "staff"
    with pytest.raises(asyncio.TimeoutError):
        await page.receive(timeout=1.0)  # once: no second copy from any replica's sweep
    with any_store.session() as session:
        rows = session.exec(select(LiveMessage).order_by(LiveMessage.id)).all()
        assert [r.claimed_by for r in rows] == ["a", "a"], "sent by the replica that holds the page"
        assert store_text_sealed(any_store, rows)
    await page.close()


def store_text_sealed(store, rows) -> bool:  # type: ignore[no-untyped-def]
    return all("旧证" not in r.event_enc for r in rows)


async def test_with_no_page_open_the_reply_waits_for_the_next_connection_on_any_replica(aiohttp_client, replicas,
                                                                                       any_store) -> None:  # type: ignore[no-untyped-def]
    a, b, staff, headers, handoff_id = await _handed_over(aiohttp_client, replicas, any_store, NO_PAGE_WAIT)
    await act(staff, headers, handoff_id, "claim")
    sent = await act(staff, headers, handoff_id, "reply", text="材料齐了就可以来办。")
    assert (await sent.json())["message"]["delivered"] is False, "nobody to hand it to yet"

    cookie = a.session.cookie_jar.filter_cookies(a.make_url("/"))[COOKIE].value
    b.session.cookie_jar.update_cookies({COOKIE: cookie}, b.make_url("/"))  # the page comes back via replica b
    page = await b.ws_connect("/api/web/live", headers=origin(b))
    texts = [json.loads((await page.receive(timeout=5)).data)["text"] for _ in range(2)]
    assert texts[0].startswith("工作人员") and texts[1] == "材料齐了就可以来办。", "in the order staff wrote them"
    with pytest.raises(asyncio.TimeoutError):
        await page.receive(timeout=1.0)
    with any_store.session() as session:
        [staff_row] = session.exec(select(TranscriptMessage).where(TranscriptMessage.role == "staff")).all()
        assert staff_row.delivered is True, "marked delivered once the page took it"
    await page.close()


async def test_a_page_without_a_socket_gets_waiting_messages_by_polling(aiohttp_client, replicas, any_store) -> None:  # type: ignore[no-untyped-def]
    a, b, staff, headers, handoff_id = await _handed_over(aiohttp_client, replicas, any_store, NO_PAGE_WAIT)
    await act(staff, headers, handoff_id, "claim")
    await act(staff, headers, handoff_id, "reply", text="请问还有什么问题？")
    polled = await (await a.get("/api/web/live/pending")).json()
    assert [m["text"] for m in polled["messages"]][-1] == "请问还有什么问题？" and len(polled["messages"]) == 2
    assert (await (await a.get("/api/web/live/pending")).json())["messages"] == [], "taken once"
    assert (await b.get("/api/web/live/pending")).status == 401, "only the resident's own page"


async def _start_door(settings: ChannelSettings) -> None:
    from aiohttp import web

    from tongban.channels.app.ratelimit import Door

    opened = Door(settings).context(web.Application())
    await opened.__anext__()
    with contextlib.suppress(StopAsyncIteration):
        await opened.__anext__()


async def test_replicas_without_redis_warn_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    base = {"env": "test", "session_secret": "test-session-secret-0123456789"}
    with caplog.at_level(logging.WARNING, logger="tongban.channels.app.ratelimit"):
        await _start_door(ChannelSettings(**base))
        await _start_door(ChannelSettings(**base, replicas=3, redis_url="redis://127.0.0.1:6379/0"))
        assert "replicas" not in caplog.text, "one replica, or Redis configured: nothing to warn about"
        await _start_door(ChannelSettings(**base, replicas=3))
    assert "3 replicas configured but no Redis" in caplog.text
