"""Rate limits per resident and per source address on every public endpoint, and body limits.

Windows are a minute where a test only needs a limit to trip (robust on a loaded machine) and a
second where it must watch one reset; the counters are the `limits` library's sliding windows.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from sqlmodel import select

from tests.helpers.console import origin
from tests.helpers.wechat_oa import APP_ID, SECRET, opened, sealed, text_xml, wechat_settings
from tests.helpers.wechat_server import FakeWeChat
from tongban.channels.app import keys
from tongban.channels.app.ratelimit import EXEMPT, THROTTLED, Door
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.sms import SMS, SMS_SETTINGS, SmsSettings
from tongban.channels.wechat.miniprogram import chat as miniprogram
from tongban.memory.models import InboundMessage, InboundStatus

XHR = {"X-Requested-With": "XMLHttpRequest"}
REDIS = "redis://127.0.0.1:6379/0"
SMS_TOKEN = "sms-webhook-token-0123"


def limited(**overrides: Any) -> ChannelSettings:
    return ChannelSettings(env="test", session_secret="test-session-secret-0123456789", **overrides)


async def assert_refused(response: Any, *, as_json: bool = True) -> int:
    """The clear reply: 429, Retry-After in seconds, a Chinese sentence (JSON for the APIs)."""
    assert response.status == 429, await response.text()
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 3600
    if as_json:
        body = await response.json()
        assert body["error"] == "rate_limited" and THROTTLED in body["message"]
    else:
        assert THROTTLED in await response.text()
    return wait


# ---------------------------------------------------------------------------- coverage


def test_every_route_but_the_probes_has_a_per_address_limit(make_app) -> None:  # type: ignore[no-untyped-def]
    """New endpoints are covered by default: whatever is mounted gets at least the address limit."""
    app = make_app(limited(wechat_token="t"))
    policy_for = app[keys.RATE_LIMITS].policy_for  # what the channels registered in their setup
    paths = {info.get("path") or info.get("formatter") or info.get("prefix")
             for info in (r.get_info() for r in app.router.resources())}
    assert {"/wechat", "/api/web/messages", "/sms/aliyun", "/items/{code}", "/console/api/sign-in"} <= paths
    for path in paths | {"/api/web/upload", "/api/mp/upload", "/forms/abc.pdf", "/something/new"}:
        policy = policy_for(path)
        if path in ("/healthz", "/readyz", "/metrics"):
            assert policy is EXEMPT
        else:
            assert policy.address, f"{path} has no per-address limit"
    assert policy_for("/api/web/voice").resident == "rate_upload"
    assert policy_for("/wechatx") is policy_for("/something/new"), "a prefix is not a substring"


# ---------------------------------------------------------------------------- web chat


async def test_web_chat_per_resident_trips_with_a_clear_reply_and_residents_are_independent(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(limited(rate_resident="3/minute"))
    first, second = await aiohttp_client(app), await aiohttp_client(app)
    await first.get("/")
    await second.get("/")  # each has its own signed web id now
    for _ in range(3):
        ok = await first.post("/api/web/messages", json={"text": "身份证丢了怎么办"}, headers=XHR)
        assert ok.status == 200
    await assert_refused(await first.post("/api/web/messages", json={"text": "身份证丢了怎么办"}, headers=XHR))
    other = await second.post("/api/web/messages", json={"text": "社保卡怎么办"}, headers=XHR)
    assert other.status == 200, "another resident (same address) is not affected"


class _Clock:
    """The counters' wall clock, held still: a window passes only when the test says so."""

    monotonic = staticmethod(time.monotonic)  # the Redis retry timer keeps the real one

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


async def test_a_resident_limit_resets_after_its_window(aiohttp_client, make_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A refused resident is served again once the window has passed, and not before.

    The clock is held mid-second: on a real clock a loaded machine lets the third request fall
    into the next one-second window, where the sliding count has already decayed below the limit.
    """
    import limits.aio.storage.memory as counting
    import limits.aio.strategies as windows

    clock = _Clock(math.floor(time.time()) + 0.4)
    for module in (counting, windows, sys.modules[Door.__module__]):
        monkeypatch.setattr(module, "time", clock)
    client = await aiohttp_client(make_app(limited(rate_resident="2/second")))
    await client.get("/")
    assert [(await client.get("/api/web/history")).status for _ in range(2)] == [200, 200]
    wait = await assert_refused(await client.get("/api/web/history"))
    assert wait <= 2, "Retry-After names the window, not an hour"
    clock.now += 0.5  # still inside the window and the next: the count has not decayed enough
    await assert_refused(await client.get("/api/web/history"))
    clock.now += 2.1  # a sliding window forgets completely after two windows
    assert (await client.get("/api/web/history")).status == 200


async def test_per_address_limit_on_pages_answers_in_plain_chinese(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(rate_address="2/minute")))
    assert (await client.get("/items/450000-000-01")).status in (200, 404)
    assert (await client.get("/static/chat.css")).status == 200
    await assert_refused(await client.get("/items/450000-000-01"), as_json=False)
    assert (await client.get("/healthz")).status == 200 and (await client.get("/metrics")).status == 200


# ---------------------------------------------------------------------------- source addresses


def _request(remote: str, forwarded: str | None) -> web.Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return make_mocked_request("GET", "/items/x", headers=headers, transport=_Transport(remote))


class _Transport:
    def __init__(self, remote: str) -> None:
        self.remote = remote

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.remote, 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    untrusting = Door(limited())
    assert untrusting.address(_request("203.0.113.9", "198.51.100.1")) == "203.0.113.9", "not trusted by default"
    door = Door(limited(trusted_proxies=["10.0.0.0/8"]))
    assert door.address(_request("10.1.2.3", "198.51.100.1")) == "198.51.100.1"
    assert door.address(_request("10.1.2.3", "6.6.6.6, 198.51.100.1, 10.9.9.9")) == "198.51.100.1", \
        "the nearest untrusted hop; what the client wrote further left is its own claim"
    assert door.address(_request("203.0.113.9", "198.51.100.1")) == "203.0.113.9", "only from the proxy"
    assert door.address(_request("10.1.2.3", "not-an-address")) == "10.1.2.3"


async def test_spoofed_forwarded_for_does_not_escape_the_address_limit(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(rate_address="2/minute")))
    for n in range(2):
        assert (await client.get("/static/chat.css", headers={"X-Forwarded-For": f"198.51.100.{n}"})).status == 200
    await assert_refused(await client.get("/static/chat.css", headers={"X-Forwarded-For": "198.51.100.7"}),
                         as_json=False)


async def test_behind_a_trusted_ingress_each_client_address_counts_apart(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(rate_address="2/minute", trusted_proxies=["127.0.0.1/32"])))
    one, two = {"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-For": "198.51.100.2"}
    for _ in range(2):
        assert (await client.get("/static/chat.css", headers=one)).status == 200
    await assert_refused(await client.get("/static/chat.css", headers=one), as_json=False)
    assert (await client.get("/static/chat.css", headers=two)).status == 200
    v6 = [{"X-Forwarded-For": f"2001:db8:1:2::{n}"} for n in (1, 2, 3)]
    assert [(await client.get("/static/chat.css", headers=h)).status for h in v6] == [200, 200, 429], \
        "IPv6 counts per /64"


# ---------------------------------------------------------------------------- mini-program


async def test_mini_program_per_resident(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(limited(rate_resident="2/minute"))
    client = await aiohttp_client(app)
    signer = app[miniprogram.SIGNER]
    alice, bob = ({"Authorization": f"Bearer {signer.sign({'sub': openid})}"} for openid in ("o-alice", "o-bob"))
    for _ in range(2):
        assert (await client.get("/api/mp/history", headers=alice)).status == 200
    await assert_refused(await client.post("/api/mp/messages", json={"text": "你好"}, headers=alice))
    assert (await client.post("/api/mp/messages", json={"text": "你好"}, headers=bob)).status == 200


# ---------------------------------------------------------------------------- 公众号


@pytest.fixture
async def tencent(aiohttp_server):  # type: ignore[no-untyped-def]
    fake = FakeWeChat(APP_ID, SECRET)
    server = await aiohttp_server(fake.app())
    fake.base = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


async def test_wechat_per_openid_gets_a_fast_polite_passive_reply(aiohttp_client, make_app, store, tencent) -> None:  # type: ignore[no-untyped-def]
    """WeChat gets 200 with a passive text; the agent does not run and nothing is stored."""
    client = await aiohttp_client(make_app(wechat_settings(tencent, rate_resident="2/minute")))

    async def send(openid: str, msg_id: int) -> tuple[int, str]:
        query, body = sealed(text_xml(openid, "身份证丢了怎么办", msg_id))
        response = await client.post("/wechat", params=query, data=body)
        return response.status, await response.text()

    replies = [await send("o-flood", 9100 + n) for n in range(3)]
    assert all(status == 200 for status, _ in replies)
    assert THROTTLED not in opened(replies[1][1])
    assert opened(replies[2][1]) == THROTTLED
    status, other = await send("o-calm", 9200)
    assert status == 200 and opened(other) != THROTTLED
    with store.read_session() as session:
        stored = session.exec(select(InboundMessage).where(InboundMessage.channel == "wechat")).all()
    assert len(stored) == 3, "two from the flooding resident, one from the other; the refused one not kept"


async def test_wechat_servers_address_is_limited_generously_and_can_be_exempted(make_app) -> None:  # type: ignore[no-untyped-def]
    defaults = limited()
    policy_for = make_app(defaults)[keys.RATE_LIMITS].policy_for
    assert policy_for("/wechat").address == "rate_gateway_address"
    from limits import parse

    assert parse(defaults.rate_gateway_address).amount >= 100 * parse(defaults.rate_resident.split(";")[0]).amount
    door = Door(limited(rate_limit_exempt=["101.226.0.0/16"], rate_gateway_address="1/minute"))
    request = _request("101.226.1.1", None)
    for _ in range(3):
        assert await door._check(request, policy_for("/wechat"), "101.226.1.1")


# ---------------------------------------------------------------------------- SMS


async def test_sms_per_number_floods_spend_no_turns_and_no_budget(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    app = make_app(limited(rate_resident="2/minute"))
    app[SMS_SETTINGS] = SmsSettings(env="test", sms_webhook_token=SMS_TOKEN)
    client = await aiohttp_client(app)
    batch = [{"phone_number": phone, "send_time": "2026-11-24 09:30:00", "content": "身份证丢了怎么办",
              "sign_name": "通办", "dest_code": "1234", "sequence_id": 7000 + n}
             for n, phone in enumerate(["13912345678"] * 4 + ["13800000000"])]
    response = await client.post(f"/sms/aliyun?token={SMS_TOKEN}", data=json.dumps(batch, ensure_ascii=False),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 200 and (await response.json())["code"] == 0, "the gateway gets its ack"
    await client.app[keys.DELIVERIES].drain()
    with store.read_session() as session:
        rows = session.exec(select(InboundMessage).where(InboundMessage.channel == "sms")
                            .order_by(InboundMessage.id)).all()
    assert len(rows) == 5, "every message is kept for staff"
    held = [r for r in rows if (r.reply or {}).get("held") == "rate_limited"]
    assert len(held) == 2 and all(r.status == InboundStatus.FAILED for r in held)
    assert len(client.app[SMS].sender.outbox) == 3, "two replies to the flooder, one to the other number"


# ---------------------------------------------------------------------------- console sign-in


async def test_console_sign_in_per_account_and_per_address(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    settings = limited(rate_sign_in_account="2/hour", rate_sign_in_address="4/hour",  # hours: no window edge mid-test
                       trusted_proxies=["127.0.0.1/32"])
    client = await aiohttp_client(make_app(settings))

    async def attempt(username: str, address: str) -> Any:
        return await client.post("/console/api/sign-in", json={"username": username, "password": "guess-1"},
                                 headers={**origin(client), **XHR, "X-Forwarded-For": address})

    assert [(await attempt("Wangfang", "198.51.100.1")).status for _ in range(2)] == [401, 401]
    await assert_refused(await attempt("wangfang", "198.51.100.1"))  # the account, from that address…
    assert (await attempt("wangfang", "198.51.100.9")).status == 401  # …but not from anywhere else
    for n in range(4):
        assert (await attempt(f"user{n}", "203.0.113.5")).status == 401
    await assert_refused(await attempt("someone", "203.0.113.5"))  # the address, any account


# ---------------------------------------------------------------------------- Redis


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS} ({type(exc).__name__}): shared limits not tested")


async def test_redis_limits_are_shared_by_two_app_instances(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    _redis_or_skip()
    settings = limited(rate_address="3/minute", rate_limit_storage_url=REDIS,
                       rate_limit_key_prefix=f"tongban-test-{uuid.uuid4().hex}")
    one, two = await aiohttp_client(make_app(settings)), await aiohttp_client(make_app(settings))
    assert one.app[keys.RATE_LIMITS].counters.where == "redis"
    assert [(await c.get("/static/chat.css")).status for c in (one, two, one)] == [200, 200, 200]
    await assert_refused(await two.get("/static/chat.css"), as_json=False)


async def test_redis_down_falls_back_to_memory_limits_not_to_none_or_to_refusing_all(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(rate_address="2/minute", rate_limit_storage_url="redis://127.0.0.1:1/0")))
    assert client.app[keys.RATE_LIMITS].counters.where == "memory (Redis unreachable)"
    assert [(await client.get("/static/chat.css")).status for _ in range(3)] == [200, 200, 429]


async def test_redis_failing_mid_run_falls_back_at_once_and_is_retried_later(caplog) -> None:  # type: ignore[no-untyped-def]
    from limits import parse_many

    from tongban.channels.app.ratelimit import RETRY_S, _Counters

    counters = _Counters("redis://127.0.0.1:1/0", "tongban-test")  # as if Redis had just gone away
    assert counters.where == "redis"
    items = parse_many("2/minute")
    verdicts = [bool(await counters.hit(items, "k")) for _ in range(3)]
    assert verdicts == [True, True, False], "counted in memory: neither open nor closed"
    assert counters.where == "memory (Redis unreachable)"
    assert RETRY_S - 5 < counters.down_until - time.monotonic() <= RETRY_S, "Redis is asked again after RETRY_S"
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 1, "one warning, not one per request"
    await counters.close()


# ---------------------------------------------------------------------------- body sizes


@pytest.mark.parametrize(("path", "limit"), [
    ("/api/web/messages", 64 * 1024), ("/api/mp/login", 64 * 1024), ("/api/mp/messages", 64 * 1024),
    ("/console/api/sign-in", 64 * 1024), ("/wechat", 256 * 1024), ("/sms/aliyun", 256 * 1024),
    ("/api/mp/push", 256 * 1024),
])
async def test_every_body_has_a_tight_limit_and_a_clear_413(aiohttp_client, make_app, path: str, limit: int) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(wechat_token="t")))
    headers = {**XHR, **origin(client), "Content-Type": "application/json"}
    response = await client.post(path, data=b"{" + b" " * limit + b"}", headers=headers)
    assert response.status == 413
    body = await response.json()
    assert body["error"] == "too_large" and f"{limit // 1024} KB" in body["message"]


async def test_a_body_without_content_length_is_cut_at_the_routes_limit(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(wechat_token="t", max_json_bytes=2048, max_webhook_bytes=4096)))

    async def chunks(size: int):  # type: ignore[no-untyped-def]
        yield b"{"
        for _ in range(size // 1024):
            yield b" " * 1024
        yield b"}"

    await client.get("/")
    web_chat = await client.post("/api/web/messages", data=chunks(8192),
                                 headers={**XHR, "Content-Type": "application/json"})
    assert web_chat.status == 413 and "2 KB" in (await web_chat.json())["message"]
    from tests.helpers.wechat_oa import signed

    webhook = await client.post("/wechat", params=signed(token="t"), data=chunks(8192))
    assert webhook.status == 413 and "4 KB" in (await webhook.json())["message"]


async def test_voice_keeps_the_file_limit_and_small_json_does_not_shrink_it(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(limited(max_upload_bytes=100 * 1024, max_json_bytes=2048)))
    await client.get("/")
    small = await client.post("/api/web/voice?format=wav", data=b"RIFF" + b"\x00" * 50_000, headers=XHR)
    assert small.status == 200, "voice is a file: the JSON limit does not apply"
    big = await client.post("/api/web/voice?format=wav", data=b"RIFF" + b"\x00" * 200_000, headers=XHR)
    assert big.status == 413 and "100 KB" in (await big.json())["message"]


def test_a_channel_policy_must_name_real_settings() -> None:
    """Channels register their routes' policies at setup; a typo stops the server at start-up."""
    from tongban.channels.app.ratelimit import Policy

    door = Door(limited())
    door.limit("/api/new/", Policy("new", "rate_address", body="max_json_bytes"))
    assert door.policy_for("/api/new/thing").name == "new" and door.policy_for("/api/newer").name == "public"
    for wrong in (Policy("x", "rate_adress"), Policy("x", "rate_address", "rate_resident_typo"),
                  Policy("x", "rate_address", body="max_bytes")):
        with pytest.raises(ValueError):
            door.limit("/api/x/", wrong)
    with pytest.raises(ValueError):
        door.bucket("x", "rate_nothing")


async def test_dropping_the_cookie_does_not_escape_the_limits(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    from tongban.memory.models import Resident

    app = make_app(limited(rate_new_resident_address="3/minute"))
    client, dropper = await aiohttp_client(app), await aiohttp_client(app)

    async def fresh(who: Any) -> Any:
        who.session.cookie_jar.clear()
        return await who.post("/api/web/messages", json={"text": "你好"}, headers=XHR)

    assert [(await fresh(client)).status for _ in range(3)] == [200, 200, 200]
    await assert_refused(await fresh(dropper))
    kept = await client.post("/api/web/messages", json={"text": "还在吗"}, headers=XHR)  # the last cookie
    assert kept.status == 200, "a resident with a cookie goes on"
    with store.read_session() as session:
        assert len(session.exec(select(Resident).where(Resident.web_id.is_not(None))).all()) == 3  # type: ignore[union-attr]
