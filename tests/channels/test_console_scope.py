"""Staff see only what their hall handles: queue, conversation, actions, files and the live socket.

Two halls (南宁市民中心, 柳州市政务服务中心), each with its staff; a supervisor of 柳州 and a
province supervisor. Anything out of scope answers exactly like an id that does not exist (404).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import select

from tests.helpers.console import (
    PASSWORD,
    XHR,
    act,
    add_accounts,
    ask,
    origin,
    queue,
    sign_in,
)
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.console.auth import CONSOLE_SETTINGS
from tongban.channels.console.settings import ConsoleSettings
from tongban.memory import staff, uploads
from tongban.memory.models import AuditLog, Hall, Handoff, Resident
from tongban.memory.store import Store

NANNING, LIUZHOU = "南宁市民中心", "柳州市政务服务中心"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def console(make_app, store):  # type: ignore[no-untyped-def]
    add_accounts(store)  # wangfang and lisi of 南宁, zhuguan: province supervisor
    with store.session(actor="test") as session:
        staff.add_staff(session, username="liuzhou", password=PASSWORD, hall=LIUZHOU, display_name="柳州小陈")
        staff.add_staff(session, username="lzsup", password=PASSWORD, hall=LIUZHOU, role="supervisor")

    def make():  # type: ignore[no-untyped-def]
        app = make_app()
        app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05)
        return app

    return make


def _place(store: Store, hall: str) -> int:
    """The newest resident's usual hall (what the app keeps once a resident names one); its id."""
    with store.session(actor="test") as session:
        resident = session.exec(select(Resident).order_by(Resident.id.desc())).first()  # type: ignore[union-attr]
        resident.usual_hall_id = session.exec(select(Hall.id).where(Hall.name == hall)).one()
        session.add(resident)
        return resident.id or 0


async def _handed_off(app: Any, aiohttp_client: Any, store: Store, hall: str) -> tuple[Any, int, int]:
    resident = await aiohttp_client(app)
    await ask(resident, "身份证到期了怎么换")
    resident_id = _place(store, hall)
    await ask(resident, "转人工")
    with store.session() as session:
        handoff = session.exec(select(Handoff).where(Handoff.resident_id == resident_id)).one()
    return resident, resident_id, handoff.id or 0


async def test_staff_of_another_hall_can_neither_see_nor_act_and_files_open_for_the_holder(
        aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident, resident_id, handoff_id = await _handed_off(app, aiohttp_client, store, NANNING)
    with store.session(actor="test") as session:
        upload_id = uploads.save(session, store.vault, resident_id=resident_id, channel="web",
                                 content_type="image/png", data=PNG, review={}).id
    clients = {}
    for name in ("wangfang", "lisi", "liuzhou", "lzsup", "zhuguan"):
        client = await aiohttp_client(app)
        clients[name] = (client, await sign_in(client, name))

    liuzhou, lz_headers = clients["liuzhou"]
    assert await queue(liuzhou) == []
    assert [c["handoff_id"] for c in await queue(clients["wangfang"][0])] == [handoff_id]
    assert (await liuzhou.get(f"/console/api/conversations/{handoff_id}")).status == 404
    for action in ("claim", "note", "reply", "hand-back", "close"):
        assert (await act(liuzhou, lz_headers, handoff_id, action, text="你好")).status == 404, action
    correction = await liuzhou.post(f"/console/api/conversations/{handoff_id}/correct", headers=lz_headers,
                                    json={"item_code": "450000-SJ-0004", "phrase": "推车卖早点"})
    assert correction.status == 404, "nor teach the catalog in the name of another hall's conversation"
    lzsup, lzsup_headers = clients["lzsup"]
    assert (await act(lzsup, lzsup_headers, handoff_id, "reveal")).status == 404
    assert (await lzsup.get(f"/console/api/uploads/{upload_id}")).status == 404

    wangfang, wf_headers = clients["wangfang"]
    lisi, lisi_headers = clients["lisi"]
    assert (await lisi.get(f"/console/api/uploads/{upload_id}")).status == 404  # in scope, not holding it
    assert (await act(wangfang, wf_headers, handoff_id, "claim")).status == 200
    assert (await act(lisi, lisi_headers, handoff_id, "note", text="我来看看")).status == 403  # held by another
    assert (await wangfang.get(f"/console/api/uploads/{upload_id}")).status == 200
    assert (await lisi.get(f"/console/api/uploads/{upload_id}")).status == 404
    assert (await clients["zhuguan"][0].get(f"/console/api/uploads/{upload_id}")).status == 200
    with store.session() as session:
        viewers = session.exec(select(AuditLog.actor).where(AuditLog.action == "view_upload")).all()
    assert sorted(viewers) == ["staff:wangfang", "staff:zhuguan"]

    for path in ("/console/api/conversations/99999999999999999999999", "/console/api/uploads/9223372036854775808",
                 "/console/api/audio/-1", "/console/api/conversations/0/claim",
                 "/console/api/conversations/99999999999999999999999/correct", "/console/api/uploads/²",
                 "/console/api/audio/²³", "/console/api/conversations/²/claim", f"/console/api/conversations/{handoff_id}²"):
        method = wangfang.post if path.endswith(("claim", "correct")) else wangfang.get
        assert (await method(path, headers=wf_headers, json={})).status == 404, path


async def test_a_conversation_is_its_holders_only_while_they_hold_it(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident, _resident_id, first = await _handed_off(app, aiohttp_client, store, NANNING)
    wangfang = await aiohttp_client(app)
    headers = await sign_in(wangfang, "wangfang")
    assert (await act(wangfang, headers, first, "claim")).status == 200
    _place(store, LIUZHOU)  # the resident moves on to 柳州 while she holds it: still hers
    assert (await wangfang.get(f"/console/api/conversations/{first}")).status == 200
    assert (await act(wangfang, headers, first, "close")).status == 200
    await ask(resident, "转人工")  # a new conversation, for 柳州's staff
    await ask(resident, "我想问问柳州这边的事")
    liuzhou = await aiohttp_client(app)
    await sign_in(liuzhou, "liuzhou")
    assert [c["handoff_id"] for c in await queue(liuzhou)] != []
    closed = await wangfang.get(f"/console/api/conversations/{first}")
    assert closed.status == 404, "closed and placed in another hall: 柳州's conversation is not read through it"


async def test_the_live_socket_carries_only_handoffs_in_scope_and_replays_nothing(
        aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    _nn_resident, _, nn_handoff = await _handed_off(app, aiohttp_client, store, NANNING)
    lz_resident, lz_resident_id, lz_handoff = await _handed_off(app, aiohttp_client, store, LIUZHOU)
    bystander = await aiohttp_client(app)
    await ask(bystander, "我叫张三，电话13912345678，户口怎么迁")  # never asked for a person

    sockets = {}
    for name in ("wangfang", "liuzhou"):
        client = await aiohttp_client(app)
        await sign_in(client, name)
        sockets[name] = await client.ws_connect("/console/ws", headers=origin(client))

    async def messages(ws: Any, seconds: float) -> list[dict[str, Any]]:
        seen = []
        try:
            while True:
                event = json.loads((await ws.receive(timeout=seconds)).data)
                if event["type"] == "message":
                    seen.append(event["message"])
        except (TimeoutError, TypeError):
            return seen

    assert await messages(sockets["wangfang"], 0.5) == []  # nothing from before connecting
    await ask(bystander, "还有别的材料吗")
    await ask(lz_resident, "请问什么时候有人")
    got_lz = await messages(sockets["liuzhou"], 1.0)
    got_nn = await messages(sockets["wangfang"], 0.5)
    assert got_lz and {m["resident_id"] for m in got_lz} == {lz_resident_id}
    assert got_nn == []
    assert all("别的材料" not in m["text"] for m in got_lz)
    assert nn_handoff != lz_handoff
    for ws in sockets.values():
        await ws.close()


async def test_no_address_can_lock_an_account_out_for_everyone(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    add_accounts(store)
    settings = ChannelSettings(env="test", session_secret="test-session-secret-0123456789",
                               trusted_proxies=["127.0.0.1/32"])
    client = await aiohttp_client(make_app(settings))

    async def attempt(password: str, address: str) -> Any:
        return await client.post("/console/api/sign-in", json={"username": "wangfang", "password": password},
                                 headers={**origin(client), **XHR, "X-Forwarded-For": address})

    for _ in range(5):
        assert (await attempt("guess-123456", "203.0.113.66")).status == 401
    refused = await attempt(PASSWORD, "203.0.113.66")
    assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 30
    assert (await attempt(PASSWORD, "198.51.100.20")).status == 200  # the real colleague, elsewhere


async def test_staff_of_the_hall_see_an_alert_when_a_receipt_is_being_guessed(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import NOW
    from tongban.memory.applications import add_application
    from tongban.memory.progress import RECEIPT_FREE, query_progress

    app = console()
    with store.session(actor="test") as session:
        add_application(session, store.vault, {
            "receipt_no": "GX20261118000999", "item": "居民身份证换领", "hall": NANNING, "status": "审核中",
            "applicant": {"name": "王芳", "phone": "13912345678", "id_number": "450203195503124563"}, "events": []})
        for n in range(RECEIPT_FREE):
            query_progress(session, store.vault, receipt_no="GX20261118000999", id_last4=f"{n:04d}",
                           requester=f"web:cookie-{n}", now=NOW)
    seen = {}
    for name in ("wangfang", "liuzhou"):
        client = await aiohttp_client(app)
        await sign_in(client, name)
        seen[name] = (await (await client.get("/console/api/alerts")).json())["alerts"]
    assert [a["receipt_no"] for a in seen["wangfang"]] == ["GX20261118000999"]
    assert seen["liuzhou"] == []
