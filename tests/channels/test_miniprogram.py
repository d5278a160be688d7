"""The mini-program API against a mock of Tencent's servers: login, messages, voice, history, push."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import pytest
from aiohttp import FormData
from pydantic import SecretStr
from sqlmodel import func, select

from tests.helpers.mp_server import APP_ID, APP_SECRET, MockWeChat
from tongban.agent.messages import Transcript
from tongban.channels.app import keys
from tongban.channels.app.base import AI_LABEL
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.app.tokens import TokenSigner
from tongban.channels.app.voice_hook import NO_VOICE, VOICE
from tongban.memory.models import InboundMessage, InboundStatus, Resident
from tongban.memory.residents import resolve

PUSH_TOKEN = "push-token-for-tests"
SESSION_SECRET = "test-session-secret-0123456789"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, like WeChat's


@pytest.fixture
async def wechat(aiohttp_server) -> MockWeChat:  # type: ignore[no-untyped-def]
    mock = MockWeChat()
    server = await aiohttp_server(mock.app())
    mock.base = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return mock


@pytest.fixture
def mp_settings(wechat: MockWeChat) -> ChannelSettings:
    return ChannelSettings(
        env="test", session_secret=SESSION_SECRET, wechat_api_base=wechat.base,  # type: ignore[attr-defined]
        miniprogram_app_id=APP_ID, miniprogram_app_secret=APP_SECRET, wechat_token=PUSH_TOKEN,
        wechat_aes_key=AES_KEY, max_upload_bytes=4096,
    )


@pytest.fixture
async def client(aiohttp_client, make_app, mp_settings):  # type: ignore[no-untyped-def]
    return await aiohttp_client(make_app(mp_settings))


async def login(client, wechat: MockWeChat, openid: str = "o-mini-0001", unionid: str | None = None) -> str:  # type: ignore[no-untyped-def]
    code = f"code-{openid}"
    wechat.add_code(code, openid, unionid)
    response = await client.post("/api/mp/login", json={"code": code})
    assert response.status == 200, await response.text()
    return (await response.json())["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ login and messages


async def test_login_with_a_valid_code_returns_a_token_and_never_the_session_key(client, wechat, store, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    wechat.add_code("good-code", "o-mini-0001")
    response = await client.post("/api/mp/login", json={"code": "good-code"})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "expires_in"} and body["expires_in"] > 0
    raw = await response.text()
    assert "sk-o-mini-0001-secret" not in raw and "session_key" not in raw
    assert "sk-o-mini-0001-secret" not in caplog.text
    assert "js_code=good-code" in wechat.requests[0] and "grant_type=authorization_code" in wechat.requests[0]
    with store.session() as session:
        assert session.exec(select(Resident).where(Resident.miniprogram_openid == "o-mini-0001")).first()


async def test_an_invalid_code_is_refused_clearly(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/api/mp/login", json={"code": "never-issued"})
    assert response.status == 401
    body = await response.json()
    assert body["error"] == "invalid_code" and "重新登录" in body["message"]
    missing = await client.post("/api/mp/login", json={})
    assert missing.status == 400 and (await missing.json())["error"] == "bad_request"
    garbage = await client.post("/api/mp/login", data=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status == 400


async def test_a_code_works_once(client, wechat) -> None:  # type: ignore[no-untyped-def]
    wechat.add_code("once", "o-mini-0002")
    assert (await client.post("/api/mp/login", json={"code": "once"})).status == 200
    assert (await client.post("/api/mp/login", json={"code": "once"})).status == 401


async def test_messages_need_a_valid_token(client, wechat) -> None:  # type: ignore[no-untyped-def]
    question = {"text": "身份证到期了怎么换"}
    assert (await client.post("/api/mp/messages", json=question)).status == 401
    bad = await client.post("/api/mp/messages", json=question, headers=bearer("forged.token"))
    assert bad.status == 401 and (await bad.json())["error"] == "unauthorized"
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    token = await login(client, wechat)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.post("/api/mp/messages", json=question, headers=bearer(tampered))).status == 401
    expired = TokenSigner(SESSION_SECRET, "miniprogram", 60).sign({"sub": "o-mini-0001"}, now=time.time() - 3600)
    assert (await client.post("/api/mp/messages", json=question, headers=bearer(expired))).status == 401
    web_cookie = TokenSigner(SESSION_SECRET, "web", 3600).sign({"sub": "o-mini-0001"})
    assert (await client.post("/api/mp/messages", json=question, headers=bearer(web_cookie))).status == 401
    assert (await client.get("/api/mp/history", headers=bearer("nope"))).status == 401
    assert (await client.get("/api/mp/history", headers=bearer("令牌.签名"))).status == 401  # not ASCII


async def test_a_real_question_gets_the_item(client, wechat) -> None:  # type: ignore[no-untyped-def]
    token = await login(client, wechat)
    response = await client.post("/api/mp/messages", json={"text": "身份证到期了怎么换"}, headers=bearer(token))
    assert response.status == 200
    body = await response.json()
    assert {"text", "ai_generated", "quick_replies", "cards", "intent", "item", "handoff"} <= set(body)
    assert body["item"] == "居民身份证换领" and body["intent"] == "service_lookup"
    assert body["ai_generated"] is False and body["handoff"] is False
    assert "居民户口簿" in body["text"] and body["quick_replies"]
    assert body["cards"][0]["type"] == "item" and body["cards"][0]["name"] == "居民身份证换领"
    empty = await client.post("/api/mp/messages", json={"text": "  "}, headers=bearer(token))
    assert empty.status == 400 and (await empty.json())["error"] == "bad_request"
    long = await client.post("/api/mp/messages", json={"text": "a" * 2001}, headers=bearer(token))
    assert long.status == 400
    huge = await client.post("/api/mp/messages", json={"text": "办" * 2000}, headers=bearer(token))
    assert huge.status == 413 and (await huge.json())["error"] == "too_large", "past max_upload_bytes"


async def test_unionid_joins_the_official_account_resident(client, wechat, store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        oa = resolve(session, store.vault, channel="wechat", user_id="o-oa-0001", unionid="union-0001")
        oa_id = oa.id
        before = session.exec(select(func.count(Resident.id))).one()
    token = await login(client, wechat, openid="o-mini-0003", unionid="union-0001")
    await client.post("/api/mp/messages", json={"text": "身份证到期了怎么换"}, headers=bearer(token))
    with store.session() as session:
        rows = session.exec(select(Resident).where(Resident.wechat_unionid == "union-0001")).all()
        assert len(rows) == 1 and rows[0].id == oa_id
        assert rows[0].wechat_openid == "o-oa-0001" and rows[0].miniprogram_openid == "o-mini-0003"
        assert session.exec(select(func.count(Resident.id))).one() == before


async def test_history_returns_the_exchange(client, wechat) -> None:  # type: ignore[no-untyped-def]
    token = await login(client, wechat)
    empty = await client.get("/api/mp/history", headers=bearer(token))
    assert (await empty.json()) == {"messages": [], "handoff": None}
    await client.post("/api/mp/messages", json={"text": "身份证到期了怎么换"}, headers=bearer(token))
    await client.post("/api/mp/messages", json={"text": "我的电话13800138000"}, headers=bearer(token))
    messages = (await (await client.get("/api/mp/history", headers=bearer(token))).json())["messages"]
    assert [m["role"] for m in messages] == ["resident", "assistant", "resident", "assistant"]
    assert messages[0]["text"] == "身份证到期了怎么换"
    assert "居民身份证换领" in messages[1]["text"]
    assert "13800138000" not in json.dumps(messages, ensure_ascii=False), "stored masked"
    other = await login(client, wechat, openid="o-mini-9999")
    assert (await (await client.get("/api/mp/history", headers=bearer(other))).json()) == {"messages": [], "handoff": None}


# ------------------------------------------------------------------ voice


async def test_voice_without_a_hook_asks_to_type(client, wechat) -> None:  # type: ignore[no-untyped-def]
    token = await login(client, wechat)
    form = FormData()
    form.add_field("format", "aac")
    form.add_field("file", b"\x00" * 200, filename="voice.aac", content_type="audio/aac")
    response = await client.post("/api/mp/voice", data=form, headers=bearer(token))
    assert response.status == 200
    body = await response.json()
    assert body["text"] == NO_VOICE and "请打字" in body["text"] and body["item"] is None
    assert (await client.post("/api/mp/voice", data=b"\x00" * 10, headers=bearer("x"))).status == 401
    torn = await client.post("/api/mp/voice", data=b"not multipart",
                             headers={**bearer(token), "Content-Type": "multipart/form-data"})
    assert torn.status == 400 and (await torn.json())["error"] == "bad_request"


async def test_voice_with_a_hook_answers_what_was_heard(aiohttp_client, make_app, mp_settings, wechat) -> None:  # type: ignore[no-untyped-def]
    heard: list[tuple[int, str]] = []

    async def transcribe(audio: bytes, fmt: str) -> tuple[str, Transcript] | None:
        heard.append((len(audio), fmt))
        return "身份证到期了怎么换", Transcript(confidence=0.93)

    app = make_app(mp_settings)
    app[VOICE] = transcribe
    client = await aiohttp_client(app)
    token = await login(client, wechat)
    response = await client.post("/api/mp/voice?format=mp3", data=b"\x01" * 300,
                                 headers={**bearer(token), "Content-Type": "application/octet-stream"})
    body = await response.json()
    assert response.status == 200 and heard == [(300, "mp3")]
    assert body["heard"] == "身份证到期了怎么换" and body["item"] == "居民身份证换领"
    unknown = await client.post("/api/mp/voice?format=exe", data=b"\x01" * 300, headers=bearer(token))
    assert unknown.status == 400 and (await unknown.json())["error"] == "bad_request"


async def test_oversized_upload_is_refused(client, wechat) -> None:  # type: ignore[no-untyped-def]
    token = await login(client, wechat)
    raw = await client.post("/api/mp/voice?format=wav", data=b"\x00" * 5000, headers=bearer(token))
    assert raw.status == 413 and (await raw.json())["error"] == "too_large"
    form = FormData()
    form.add_field("format", "silk")
    form.add_field("file", b"\x00" * 5000, filename="voice.silk")
    multipart = await client.post("/api/mp/voice", data=form, headers=bearer(token))
    assert multipart.status == 413 and (await multipart.json())["error"] == "too_large"


# ------------------------------------------------------------------ message push


def signed(token: str = PUSH_TOKEN, *, timestamp: int | None = None, nonce: str = "n0nce") -> dict[str, str]:
    ts = str(timestamp or int(time.time()))
    signature = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": ts, "nonce": nonce}


def push_body(text: str = "身份证到期了怎么换", msg_id: int = 7001, openid: str = "o-mini-push") -> dict[str, Any]:
    return {"ToUserName": "gh_mini", "FromUserName": openid, "CreateTime": int(time.time()),
            "MsgType": "text", "Content": text, "MsgId": msg_id}


def count_runs(client) -> list[str]:  # type: ignore[no-untyped-def]
    agent = client.app[keys.AGENT]
    original, runs = agent.respond, []

    async def respond(message):  # type: ignore[no-untyped-def]
        runs.append(message.text)
        return await original(message)

    agent.respond = respond
    return runs


def inbound_rows(store) -> list[InboundMessage]:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return list(session.exec(select(InboundMessage).where(InboundMessage.channel == "miniprogram")))


async def test_push_url_verification(client) -> None:  # type: ignore[no-untyped-def]
    ok = await client.get("/api/mp/push", params={**signed(), "echostr": "echo-123"})
    assert ok.status == 200 and await ok.text() == "echo-123"
    forged = await client.get("/api/mp/push", params={**signed("wrong"), "echostr": "echo-123"})
    assert forged.status == 403


async def test_a_forged_push_is_refused_and_nothing_stored(client, wechat, store) -> None:  # type: ignore[no-untyped-def]
    runs = count_runs(client)
    forged = await client.post("/api/mp/push", params=signed("not-the-token"), json=push_body())
    assert forged.status == 403
    stale = await client.post("/api/mp/push", params=signed(timestamp=int(time.time()) - 3600), json=push_body())
    assert stale.status == 403
    unsigned = await client.post("/api/mp/push", json=push_body())
    assert unsigned.status == 403
    deep = await client.post("/api/mp/push", params=signed(), data=b"[" * 4000)
    assert deep.status == 400, "signed, but JSON nested past the parser's recursion: malformed"
    await client.app[keys.DELIVERIES].drain()
    assert inbound_rows(store) == [] and runs == [] and wechat.sent == []


async def test_a_push_is_answered_once_through_customer_service(client, wechat, store) -> None:  # type: ignore[no-untyped-def]
    runs = count_runs(client)
    for _ in range(3):  # WeChat retries when it hears nothing in time
        response = await client.post("/api/mp/push", params=signed(), json=push_body())
        assert response.status == 200 and await response.text() == "success"
    await client.app[keys.DELIVERIES].drain()
    assert runs == ["身份证到期了怎么换"]
    assert len(wechat.sent) == 1 and wechat.token_requests == 1
    sent = wechat.sent[0]
    assert sent["touser"] == "o-mini-push" and sent["msgtype"] == "text"
    assert "居民身份证换领" in sent["text"]["content"] and AI_LABEL not in sent["text"]["content"]
    [row] = inbound_rows(store)
    assert row.status == InboundStatus.DELIVERED and row.reply["item"] == "居民身份证换领"


async def test_an_expired_access_token_is_refreshed_once(client, wechat) -> None:  # type: ignore[no-untyped-def]
    await client.post("/api/mp/push", params=signed(), json=push_body(msg_id=1))
    await client.app[keys.DELIVERIES].drain()
    wechat.expire_tokens()
    await client.post("/api/mp/push", params=signed(), json=push_body("你好", msg_id=2))
    await client.app[keys.DELIVERIES].drain()
    assert len(wechat.sent) == 2 and wechat.token_requests == 2


async def test_events_and_bad_pushes(client, wechat, store) -> None:  # type: ignore[no-untyped-def]
    event = {"ToUserName": "gh_mini", "FromUserName": "o-mini-push", "CreateTime": 1, "MsgType": "event",
             "Event": "user_enter_tempsession", "SessionFrom": ""}
    assert await (await client.post("/api/mp/push", params=signed(), json=event)).text() == "success"
    bad = await client.post("/api/mp/push", params=signed(), data=b"<xml/>")
    assert bad.status == 400
    image = {**push_body(msg_id=42), "MsgType": "image", "PicUrl": "http://x/y.jpg", "MediaId": "m"}
    image.pop("Content")
    assert (await client.post("/api/mp/push", params=signed(), json=image)).status == 200
    await client.app[keys.DELIVERIES].drain()
    assert [s["text"]["content"] for s in wechat.sent] == ["目前只能处理文字消息，请用文字告诉我您想办什么事。"]
    assert [r.kind for r in inbound_rows(store)] == ["image"]


async def test_a_safe_mode_push_is_decrypted(client, wechat) -> None:  # type: ignore[no-untyped-def]
    from wechatpy.crypto import PrpCrypto, _get_signature

    key = __import__("base64").b64decode(AES_KEY + "=")
    encrypt = PrpCrypto(key).encrypt(json.dumps(push_body(msg_id=77), ensure_ascii=False), APP_ID).decode()
    query = signed()
    query["msg_signature"] = _get_signature(PUSH_TOKEN, query["timestamp"], query["nonce"], encrypt)
    response = await client.post("/api/mp/push", params=query, json={"ToUserName": "gh_mini", "Encrypt": encrypt})
    assert await response.text() == "success"
    await client.app[keys.DELIVERIES].drain()
    assert "居民身份证换领" in wechat.sent[0]["text"]["content"]
    query["msg_signature"] = "0" * 40
    forged = await client.post("/api/mp/push", params=query, json={"ToUserName": "gh_mini", "Encrypt": encrypt})
    assert forged.status == 403


async def test_the_mini_program_and_the_official_account_share_one_token_store(aiohttp_client, make_app, mp_settings) -> None:  # type: ignore[no-untyped-def]
    """One WeChat client class and one access-token store for both apps (keyed by app id)."""
    from tongban.channels.wechat.miniprogram.push import MP_CLIENT
    from tongban.channels.wechat.oa.webhook import CLIENT
    from tongban.channels.wechat.tokens import TOKENS

    both = mp_settings.model_copy(update={"wechat_app_id": "wx-official-account", "wechat_app_secret": SecretStr("oa-secret")})
    client = await aiohttp_client(make_app(both))
    official, mini = client.app[CLIENT], client.app[MP_CLIENT]._wechat()
    assert type(official) is type(mini)
    assert official.session is mini.session is client.app[TOKENS].storage
    assert official.access_token_key != mini.access_token_key, "tokens are kept per app id"
