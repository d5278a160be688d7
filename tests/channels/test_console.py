"""The staff console's API: the handoff flow end to end, roles, masking, audit, CSRF, throttling."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType
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
from tongban.channels.console.auth import CONSOLE_SETTINGS, COOKIE
from tongban.channels.console.settings import ConsoleSettings
from tongban.memory import staff
from tongban.memory.models import AuditLog, Handoff, TranscriptMessage


@pytest.fixture
def console(make_app, store):  # type: ignore[no-untyped-def]
    """An app with three staff accounts and fast live updates."""
    add_accounts(store)

    def make(**overrides):  # type: ignore[no-untyped-def]
        app = make_app()
        app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05, **overrides)
        return app

    return make


def audit_rows(store, **where):  # type: ignore[no-untyped-def]
    with store.session() as session:
        query = select(AuditLog)
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        return list(session.exec(query))


async def test_handoff_claim_reply_silent_bot_hand_back(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident = await aiohttp_client(app)
    staff = await aiohttp_client(app)
    headers = await sign_in(staff, "wangfang")

    first = await ask(resident, "身份证到期了怎么换")
    assert first["item"] == "居民身份证换领"
    handed = await ask(resident, "转人工")
    assert handed["handoff"] is True and "人工" in handed["text"]

    waiting = await queue(staff)
    assert len(waiting) == 1
    row = waiting[0]
    assert row["status"] == "waiting" and row["reason"] == "居民要求人工服务"
    assert row["item"]["name"] == "居民身份证换领" and row["department"]
    assert row["channel"] == "web" and row["waited_s"] >= 0

    live = await resident.ws_connect("/api/web/live", headers=origin(resident))
    claimed = await act(staff, headers, row["handoff_id"], "claim")
    assert claimed.status == 200
    joined = json.loads((await live.receive(timeout=5)).data)
    assert joined["role"] == "system" and "王芳" in joined["text"] and joined["status"] == "claimed"

    sent = await act(staff, headers, row["handoff_id"], "reply", text="您好，我是窗口工作人员，请问哪里不清楚？")
    assert sent.status == 200 and (await sent.json())["message"]["delivered"] is True
    pushed = json.loads((await live.receive(timeout=5)).data)
    assert pushed == {"type": "message", "role": "staff", "text": "您好，我是窗口工作人员，请问哪里不清楚？",
                      "staff_name": "王芳", "status": "claimed", "id": joined["id"] + 1}

    # while staff hold it the bot says nothing, and the console sees what the resident wrote
    silent = await ask(resident, "照片可以自己带吗")
    assert silent["text"] == "" and silent["handoff"] is True
    conversation = await (await staff.get(f"/console/api/conversations/{row['handoff_id']}")).json()
    roles = [(m["role"], m["text"]) for m in conversation["messages"]]
    assert roles[-1] == ("resident", "照片可以自己带吗")
    assert [r for r, _ in roles].count("bot") == 2, "no bot reply after the handoff"
    assert conversation["card"]["status"] == "claimed" and conversation["card"]["staff"] == "wangfang"

    noted = await act(staff, headers, row["handoff_id"], "note", text="居民可能需要加急")
    assert (await noted.json())["message"]["delivered"] is None

    back = await act(staff, headers, row["handoff_id"], "hand-back")
    assert back.status == 200
    notice = json.loads((await live.receive(timeout=5)).data)
    assert notice["status"] == "closed" and notice["role"] == "system"
    await live.close()

    resumed = await ask(resident, "要带什么材料")
    assert resumed["handoff"] is False and "材料" in resumed["text"], "the bot goes on with the item in focus"
    assert await queue(staff) == []
    with store.session() as session:
        handoff = session.exec(select(Handoff)).one()
        assert handoff.status == "closed" and handoff.context["outcome"] == "handed_back"
        notes = session.exec(select(TranscriptMessage).where(TranscriptMessage.role == "note")).all()
        assert len(notes) == 1 and notes[0].delivered is None


async def test_console_websocket_pushes_resident_messages_and_queue_changes(aiohttp_client, console) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident = await aiohttp_client(app)
    staff = await aiohttp_client(app)
    headers = await sign_in(staff, "wangfang")
    refused = await staff.get("/console/ws", headers={"Origin": "http://evil.example"})
    assert refused.status == 403
    ws = await staff.ws_connect("/console/ws", headers=origin(staff))

    async def next_event(kind: str) -> dict:  # type: ignore[type-arg]
        while True:
            event = json.loads((await ws.receive(timeout=5)).data)
            if event["type"] == kind:
                return event

    await ask(resident, "转人工")
    await next_event("queue")
    [row] = await queue(staff)
    assert (await act(staff, headers, row["handoff_id"], "claim")).status == 200
    await ask(resident, "我的电话是13912345678")
    while True:
        event = await next_event("message")
        if event["message"]["role"] == "resident" and "电话" in event["message"]["text"]:
            break
    assert event["message"]["text"] == "我的电话是139****5678", "masked on the way to staff"
    await ws.close()


async def test_signing_out_or_being_deactivated_ends_the_live_socket(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident = await aiohttp_client(app)
    await ask(resident, "转人工")
    sockets = {}
    for name in ("wangfang", "lisi"):
        client = await aiohttp_client(app)
        headers = await sign_in(client, name)
        sockets[name] = (client, headers, await client.ws_connect("/console/ws", headers=origin(client)))
    client, headers, _ = sockets["wangfang"]
    assert (await client.post("/console/api/sign-out", headers=headers)).status == 200
    with store.session(actor="test") as session:
        staff.set_active(session, "lisi", False)  # from the CLI, perhaps on another replica
    await ask(resident, "我的电话是13912345678")
    for name, (_client, _headers, ws) in sockets.items():
        pushed, still_open = [], False
        try:
            while (received := await ws.receive(timeout=3)).type == WSMsgType.TEXT:  # until it is closed
                event = json.loads(received.data)
                if event["type"] == "message":
                    pushed.append(event["message"]["text"])
        except TimeoutError:
            still_open = True
        assert pushed == [] and not still_open, (name, pushed)


# ------------------------------------------------------------------ sign-in, CSRF, throttling


async def test_sign_in_cookie_sign_out_and_bad_passwords_throttled(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console(console_sign_in_failures=3)
    client = await aiohttp_client(app)
    assert (await client.get("/console/api/queue")).status == 401
    page = await client.get("/console")
    assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]

    response = await client.post("/console/api/sign-in", json={"username": "wangfang", "password": PASSWORD},
                                 headers={**origin(client), **XHR})
    assert response.status == 200
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
    body = await response.json()
    assert body["role"] == "staff" and body["canned_replies"] and "password" not in json.dumps(body)
    headers = {**origin(client), "X-CSRF-Token": body["csrf"]}
    assert (await client.post("/console/api/sign-out", headers=headers)).status == 200
    assert (await client.get("/console/api/queue")).status == 401, "the server-side session is gone"

    for _ in range(3):
        wrong = await client.post("/console/api/sign-in", json={"username": "lisi", "password": "guess-123456"},
                                  headers={**origin(client), **XHR})
        assert wrong.status == 401 and (await wrong.json())["error"] == "bad_credentials"
    throttled = await client.post("/console/api/sign-in", json={"username": "lisi", "password": PASSWORD},
                                  headers={**origin(client), **XHR})
    assert throttled.status == 429 and "Retry-After" in throttled.headers, "even the right password waits"
    unknown = await client.post("/console/api/sign-in", json={"username": "nobody", "password": PASSWORD},
                                headers={**origin(client), **XHR})
    assert unknown.status == 401
    assert len(audit_rows(store, action="sign_in_failed", entity_id="lisi")) == 3
    assert len(audit_rows(store, action="sign_in_throttled", entity_id="lisi")) == 1
    with store.session() as session:
        hashes = [r.after for r in session.exec(select(AuditLog).where(AuditLog.entity == "staff_account"))]
    assert all(PASSWORD not in json.dumps(h, ensure_ascii=False) for h in hashes)
    assert all("argon2" not in json.dumps(h) for h in hashes), "password hashes never reach the audit log"


async def test_a_session_cookie_that_is_not_utf8_is_signed_out_not_a_server_error(aiohttp_client, console) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(console())
    for path in (b"/console/api/me", b"/console/api/queue"):
        reader, writer = await asyncio.open_connection(client.host, client.port)  # raw: no client re-encodes it
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: " + client.host.encode() + b"\r\nCookie: "
                     + COOKIE.encode() + b"=\xff\xfe\r\nConnection: close\r\n\r\n")
        status = (await reader.readline()).split()[1]
        writer.close()
        assert status == b"401", path


async def test_a_nul_character_is_a_bad_request_where_postgresql_could_not_store_it(
        aiohttp_client, make_app, any_store) -> None:  # type: ignore[no-untyped-def]
    add_accounts(any_store)
    client = await aiohttp_client(make_app(app_store=any_store))
    refused = await client.post("/console/api/sign-in", json={"username": "wang\u0000fang", "password": PASSWORD},
                                headers={**origin(client), **XHR})
    assert refused.status == 400, "before signing in, too"
    headers = await sign_in(client, "zhuguan")
    for path, body in (("/console/api/questions/keyword", {"item_code": "450000-SJ-0001\u0000", "phrase": "摆摊"}),
                       ("/console/api/kb/remove", {"name": "faq.csv\u0000"})):
        response = await client.post(path, headers=headers, json=body)
        assert response.status == 400 and (await response.json())["error"] == "bad_request", path
    form = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="faq%00.csv"\r\n'  # browsers %-encode
            b"Content-Type: text/csv\r\n\r\nq,a\n\r\n--zz--\r\n")
    upload = await client.post("/console/api/kb", headers={**headers, "Content-Type": "multipart/form-data; boundary=zz"},
                               data=form)
    assert upload.status == 400 and (await upload.json())["error"] == "bad_request", await upload.text()


async def test_one_address_trying_many_names_is_throttled(aiohttp_client, console) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(console(console_sign_in_failures=2))
    for i in range(8):  # four times the per-name allowance, spread over names
        wrong = await client.post("/console/api/sign-in", json={"username": f"user{i}", "password": "guess-123456"},
                                  headers={**origin(client), **XHR})
        assert wrong.status == 401
    refused = await client.post("/console/api/sign-in", json={"username": "wangfang", "password": PASSWORD},
                                headers={**origin(client), **XHR})
    assert refused.status == 429


async def test_csrf_is_refused(aiohttp_client, console) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident = await aiohttp_client(app)
    staff = await aiohttp_client(app)
    await ask(resident, "转人工")
    headers = await sign_in(staff, "wangfang")
    [row] = await queue(staff)
    url = f"/console/api/conversations/{row['handoff_id']}/claim"
    assert (await staff.post(url, headers=origin(staff))).status == 403, "no token"
    assert (await staff.post(url, headers={**origin(staff), "X-CSRF-Token": "0" * 64})).status == 403, "forged token"
    cross = {**headers, "Origin": "https://evil.example"}
    assert (await staff.post(url, headers=cross)).status == 403, "another site"
    no_origin = {"X-CSRF-Token": headers["X-CSRF-Token"]}
    assert (await staff.post(url, headers=no_origin)).status == 403
    login = await staff.post("/console/api/sign-in", json={"username": "wangfang", "password": PASSWORD},
                             headers={"Origin": "https://evil.example"})
    assert login.status == 403, "no login CSRF either"
    deep = await staff.post("/console/api/sign-in", data=b'{"username": ' + b"[" * 30000,
                            headers={**origin(staff), "Content-Type": "application/json"})
    assert deep.status == 400, "JSON nested past the parser's recursion is a bad request"
    assert (await staff.post(url, headers=headers)).status == 200


# ------------------------------------------------------------------ roles, masking, reveal


async def _verified_resident_handed_off(app) -> None:  # type: ignore[no-untyped-def]
    from tongban.agent.messages import Inbound
    from tongban.channels.app import keys
    from tongban.memory.residents import Identity

    agent = app[keys.AGENT]
    identity = Identity(name="王小芳", phone="13977112345", id_number="450102199001011231")
    await agent.respond(Inbound(channel="wechat", user_id="oWx-masking-1", text="身份证到期了怎么换", identity=identity))
    await agent.respond(Inbound(channel="wechat", user_id="oWx-masking-1",
                                text="我叫王小芳，电话13977112345，身份证450102199001011231，我要投诉"))


SECRETS = ("王小芳", "13977112345", "450102199001011231")


async def test_staff_see_masked_data_supervisors_reveal_and_it_is_logged(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    staff = await aiohttp_client(app)
    boss = await aiohttp_client(app)
    await _verified_resident_handed_off(app)
    staff_headers = await sign_in(staff, "wangfang")
    boss_headers = await sign_in(boss, "zhuguan")

    bodies = []
    for client in (staff, boss):
        [row] = await queue(client)
        bodies.append(json.dumps(row, ensure_ascii=False))
        conversation = await client.get(f"/console/api/conversations/{row['handoff_id']}")
        bodies.append(await conversation.text())
        bodies.append(await (await client.get("/console")).text())
    ws = await staff.ws_connect("/console/ws", headers=origin(staff))
    handoff_id = row["handoff_id"]
    await act(staff, staff_headers, handoff_id, "claim")
    await act(staff, staff_headers, handoff_id, "reply", text="王小芳您好，您的电话13977112345已记下")
    seen = []
    while True:
        event = json.loads((await ws.receive(timeout=5)).data)
        seen.append(json.dumps(event, ensure_ascii=False))
        if event["type"] == "message" and event["message"]["role"] == "staff":
            break
    await ws.close()
    for body in bodies + seen:
        for secret in SECRETS:
            assert secret not in body, f"{secret} leaked into a console answer"
    assert "王**" in bodies[0] and "139****2345" in bodies[1] and "4501**********1231" in bodies[1]

    # staff may neither see the figures nor reveal
    assert (await staff.get("/console/api/figures")).status == 403
    assert (await act(staff, staff_headers, handoff_id, "reveal")).status == 403
    assert audit_rows(store, action="reveal") == []

    figures = await boss.get("/console/api/figures")
    assert figures.status == 200
    assert await figures.json() | {"date": None} == {
        "date": None, "handed_off": 1, "claimed": 1, "waiting_now": 0, "median_wait_s": pytest.approx(0, abs=30),
        "by_reason": {"居民投诉": 1}}
    revealed = await act(boss, boss_headers, handoff_id, "reveal")
    assert revealed.status == 200
    assert (await revealed.json())["resident"] == {"name": "王小芳", "phone": "13977112345",
                                                    "id_number": "450102199001011231"}
    [entry] = audit_rows(store, action="reveal")
    assert entry.actor == "staff:zhuguan" and entry.entity == "resident"
    assert set(entry.after["fields"]) == {"name", "phone", "id_number"}
    assert not any(secret in json.dumps(entry.after, ensure_ascii=False) for secret in SECRETS)


async def test_every_staff_action_is_audited(aiohttp_client, console, store) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident = await aiohttp_client(app)
    staff = await aiohttp_client(app)
    boss = await aiohttp_client(app)
    await ask(resident, "转人工")
    headers = await sign_in(staff, "wangfang")
    boss_headers = await sign_in(boss, "zhuguan")
    [row] = await queue(staff)
    handoff_id = row["handoff_id"]
    for action, body in (("claim", {}), ("reply", {"text": "您好"}), ("note", {"text": "备注"}),
                         ("hand-back", {})):
        assert (await act(staff, headers, handoff_id, action, **body)).status == 200, action
    assert (await act(boss, boss_headers, handoff_id, "reveal")).status == 200
    await ask(resident, "转人工")
    [second] = await queue(staff)
    assert (await act(staff, headers, second["handoff_id"], "close")).status == 200
    assert (await staff.post("/console/api/sign-out", headers=headers)).status == 200

    logged = {(r.action, r.actor) for r in audit_rows(store)}
    for action in ("sign_in", "claim", "reply", "note", "hand_back", "close", "sign_out"):
        assert (action, "staff:wangfang") in logged, action
    assert ("reveal", "staff:zhuguan") in logged and ("sign_in", "staff:zhuguan") in logged
    # the rows they wrote are audited too, as theirs
    assert ("create", "staff:wangfang") in {(r.action, r.actor) for r in audit_rows(store, entity="transcript_message")}


async def test_a_reply_needs_the_claim_and_others_cannot_hand_back(aiohttp_client, console) -> None:  # type: ignore[no-untyped-def]
    app = console()
    resident = await aiohttp_client(app)
    first, second = await aiohttp_client(app), await aiohttp_client(app)
    await ask(resident, "转人工")
    one, two = await sign_in(first, "wangfang"), await sign_in(second, "lisi")
    [row] = await queue(first)
    assert (await act(first, one, row["handoff_id"], "reply", text="您好")).status == 409, "claim first"
    assert (await act(first, one, row["handoff_id"], "claim")).status == 200
    taken = await act(second, two, row["handoff_id"], "claim")
    assert taken.status == 409 and "wangfang" in (await taken.json())["message"]
    assert (await act(second, two, row["handoff_id"], "reply", text="我来")).status == 409
    assert (await act(second, two, row["handoff_id"], "hand-back")).status == 403
    assert (await act(second, two, row["handoff_id"], "note", text="同事在处理")).status == 403, "nor note on it"


async def test_a_channel_without_a_sender_keeps_the_reply_as_undelivered(aiohttp_client, console) -> None:  # type: ignore[no-untyped-def]
    from tongban.channels.app import keys

    app = console()
    resident = await aiohttp_client(app)
    staff = await aiohttp_client(app)
    await ask(resident, "转人工")  # the page is not listening: nobody to deliver to
    headers = await sign_in(staff, "wangfang")
    [row] = await queue(staff)
    await act(staff, headers, row["handoff_id"], "claim")
    sent = await (await act(staff, headers, row["handoff_id"], "reply", text="您好")).json()
    assert sent["message"]["delivered"] is False
    app[keys.DELIVERY_CHANNELS].pop("web")
    sent = await (await act(staff, headers, row["handoff_id"], "reply", text="还在吗")).json()
    assert sent["message"]["delivered"] is False
    conversation = await (await staff.get(f"/console/api/conversations/{row['handoff_id']}")).json()
    assert [m["delivered"] for m in conversation["messages"] if m["role"] == "staff"] == [False, False]


async def test_two_staff_claim_at_once_over_http(aiohttp_client, make_app, any_store) -> None:  # type: ignore[no-untyped-def]
    """On SQLite and on PostgreSQL: concurrent requests, one conditional UPDATE wins."""
    add_accounts(any_store)
    app = make_app(app_store=any_store)
    app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05)
    resident = await aiohttp_client(app)
    first, second = await aiohttp_client(app), await aiohttp_client(app)
    await ask(resident, "转人工")
    one, two = await sign_in(first, "wangfang"), await sign_in(second, "lisi")
    [row] = await queue(first)
    results = await asyncio.gather(
        act(first, one, row["handoff_id"], "claim"), act(second, two, row["handoff_id"], "claim"),
        ask(resident, "有人吗"),
    )
    assert sorted(r.status for r in results[:2]) == [200, 409]
    assert results[2]["text"] == "" and results[2]["handoff"] is True
    winner = "wangfang" if results[0].status == 200 else "lisi"
    [claimed] = await queue(first)
    assert claimed["status"] == "claimed" and claimed["staff"] == winner
    with any_store.session() as session:
        assert [r.actor for r in session.exec(select(AuditLog).where(AuditLog.action == "claim"))] == [f"staff:{winner}"]
