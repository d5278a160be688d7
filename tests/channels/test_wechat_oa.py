"""The 公众号 webhook against real wechatpy crypto and parsing, with Tencent's API mocked locally."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
import xmltodict
from sqlmodel import func, select
from wechatpy.crypto import PrpCrypto

from tests.helpers.wechat_oa import (
    ACCOUNT,
    FAST,
    SENT_AT,
    agent_of,
    count_rows,
    event_xml,
    image_xml,
    opened,
    post,
    reply_text,
    rows,
    sealed,
    signed,
    text_xml,
    voice_xml,
)
from tests.helpers.wechat_server import AMR, BUSY, OUT_OF_TIME
from tongban.agent.messages import Reply, Transcript
from tongban.channels.app import keys
from tongban.channels.wechat.oa.content import MENU, NOT_HEARD, UNSUPPORTED, WELCOME
from tongban.channels.wechat.oa.webhook import CLIENT, VOICE, WECHAT
from tongban.channels.wechat.security import Envelope, Refused
from tongban.memory.models import Appointment, InboundStatus, SeenNonce
from tongban.memory.store import Store

# ---------------------------------------------------------------------------- downgrade and replay


async def test_with_safe_mode_configured_plaintext_is_refused_unless_compatible(aiohttp_client, make_wechat, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat())
    downgraded = await post(client, text_xml("o-downgrade", "我要查进度", 3001))  # signed, but not sealed
    assert downgraded.status == 403
    assert count_rows(store) == 0 and agent_of(client).calls == []
    query, body = sealed(text_xml("o-downgrade", "你好", 3002))
    assert (await post(client, body, query)).status == 200
    compatible = await aiohttp_client(make_wechat(wechat_compatible_mode=True))
    assert (await post(compatible, text_xml("o-compat", "你好", 3003))).status == 200


async def test_a_signed_url_cannot_carry_another_body(aiohttp_client, make_wechat, store: Store) -> None:  # type: ignore[no-untyped-def]
    app_one, app_two = make_wechat(wechat_aes_key=None), make_wechat(wechat_aes_key=None)  # two replicas
    one, two = await aiohttp_client(app_one), await aiohttp_client(app_two)
    query = signed()
    first = text_xml("o-replay", "你好", 4001)
    assert (await post(one, first, query)).status == 200
    assert (await post(two, text_xml("o-victim", "帮我取消预约", 4002), query)).status == 403, "another replica too"
    assert (await post(one, first, query)).status == 200, "WeChat's own retry: same URL, same body"
    assert [r.user_id for r in rows(store)] == ["o-replay"]
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(SeenNonce)).one() == 1


# ---------------------------------------------------------------------------- crypto


def test_wechatpy_official_vector_encrypts_and_decrypts_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    """wechatpy's own test vector (token 123456, its EncodingAESKey and app id), randomness pinned."""
    monkeypatch.setattr(PrpCrypto, "get_random_string", lambda self: "1234567890123456")
    envelope = Envelope("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
    reply = (
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
        "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
        "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
    )
    expected = (
        "<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYq"
        "xgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSU"
        "CUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOu"
        "iR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>\n"
        "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n"
        "<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>"
    )
    assert envelope.seal(reply, nonce="461056294", timestamp="1411525903") == expected

    incoming = {
        "Encrypt": "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283d"
        "Gymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQq"
        "Gp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/"
        "5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=",
    }
    query = {"msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "timestamp": "1411525903", "nonce": "461056294"}
    message = xmltodict.parse(envelope.open(incoming, query))["xml"]
    assert (message["Content"], message["FromUserName"]) == ("test", "messense")
    with pytest.raises(Refused):
        envelope.open(incoming, query | {"nonce": "461056295"})


# ---------------------------------------------------------------------------- verification


async def test_url_check_echoes_and_refuses_forgeries(aiohttp_client, make_wechat) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat())
    ok = await client.get("/wechat", params=signed() | {"echostr": "5837397557381425473"})
    assert ok.status == 200 and await ok.text() == "5837397557381425473"
    forged = signed() | {"signature": "0" * 40, "echostr": "x"}
    assert (await client.get("/wechat", params=forged)).status == 403
    assert (await client.get("/wechat", params=signed(int(time.time()) - 3600) | {"echostr": "x"})).status == 403
    assert (await client.get("/wechat", params=signed() | {"signature": "签名", "echostr": "x"})).status == 403


async def test_forged_stale_and_malformed_requests_store_nothing(aiohttp_client, make_wechat, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_compatible_mode=True))  # plaintext still read
    xml = text_xml("o-forger", "帮我预约", 1001)
    assert (await post(client, xml, signed(token="not-our-token"))).status == 403
    assert (await post(client, xml, signed(int(time.time()) - 301))).status == 403, "older than max_request_age_s"
    assert (await post(client, xml, {"timestamp": str(int(time.time())), "nonce": "1"})).status == 403
    assert (await post(client, "<xml><ToUserName>broken")).status == 400
    assert (await post(client, "<xml><MsgType>text</MsgType></xml>")).status == 400, "no sender"
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>'
    assert (await post(client, bomb)).status == 400
    query, body = sealed(xml)
    assert (await post(client, body, query | {"msg_signature": "0" * 40})).status == 403
    assert count_rows(store) == 0 and agent_of(client).calls == []


# ---------------------------------------------------------------------------- answering


async def test_plaintext_message_is_answered_passively(aiohttp_client, make_wechat, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    response = await post(client, text_xml("o-plain", "身份证丢了怎么办", 2001))
    assert response.status == 200
    document = xmltodict.parse(await response.text())["xml"]
    assert (document["ToUserName"], document["FromUserName"]) == ("o-plain", ACCOUNT)
    assert "身份证" in document["Content"] and "可回复：" in document["Content"]
    [row] = rows(store)
    assert (row.message_key, row.status, row.user_id) == ("2001", InboundStatus.DELIVERED, "o-plain")
    assert store.vault.decrypt(row.text_enc or "") == "身份证丢了怎么办"


@pytest.mark.parametrize("compatible", [False, True], ids=["safe", "compatible"])
async def test_safe_and_compatible_modes_answer_encrypted(aiohttp_client, make_wechat, compatible: bool) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat())
    query, body = sealed(text_xml("o-safe", "社保卡要带什么材料", 2002), compatible=compatible)
    response = await post(client, body, query)
    assert response.status == 200
    assert "Encrypt" in xmltodict.parse(await response.text())["xml"]
    assert "材料" in opened(await response.text())
    assert agent_of(client).calls[0].text == "社保卡要带什么材料"


async def test_a_model_written_reply_carries_the_ai_label(aiohttp_client, make_wechat) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    agent_of(client).canned = Reply(text="好的，这是答案", ai_generated=True, quick_replies=["预约办理"])
    text = reply_text(await (await post(client, text_xml("o-ai", "问", 2003))).text())
    assert text == "好的，这是答案\n（本回复由AI生成，仅供参考）\n可回复：预约办理"


async def test_staff_holding_the_conversation_means_silence(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    agent_of(client).canned = Reply(text="", handoff=True)
    response = await post(client, text_xml("o-held", "人呢", 2004))
    assert await response.text() == "success"
    await client.app[keys.DELIVERIES].drain()
    assert tencent.sent == [] and rows(store)[0].status == InboundStatus.DELIVERED


# ---------------------------------------------------------------------------- retries and replicas


async def test_the_same_msgid_three_times_runs_the_agent_once(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    """WeChat's schedule (0 s, 5 s, 10 s) compressed: a slow agent and a tiny passive budget."""
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent = agent_of(client)
    agent.delay = 0.3
    xml = text_xml("o-retry", "身份证丢了怎么办", 3001)
    first = await post(client, xml)
    assert await first.text() == "success", "past the budget: acknowledged at once"
    second = await post(client, xml)  # "5 s": still processing
    assert await second.text() == "success"
    await client.app[keys.DELIVERIES].drain()
    third = await post(client, xml)  # "10 s": already delivered as a 客服消息
    assert await third.text() == "success"
    assert len(agent.calls) == 1
    [sent] = tencent.sent
    assert sent["touser"] == "o-retry" and "身份证" in sent["text"]["content"]
    [row] = rows(store)
    assert row.status == InboundStatus.DELIVERED and row.attempts == 1


async def test_a_retry_takes_an_undelivered_reply_passively_and_it_is_not_pushed_again(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    client.app[WECHAT].retry = FAST.__class__(attempts=3, first_delay_s=0.5)
    agent = agent_of(client)
    agent.delay = 0.1
    tencent.send_failures.append(BUSY)  # the first push fails; the next waits 0.5 s
    xml = text_xml("o-late", "社保卡要带什么材料", 3002)
    assert await (await post(client, xml)).text() == "success"
    for _ in range(100):  # until the reply is stored and its push, having failed once, is backing off
        if tencent.send_attempts and rows(store)[0].status == InboundStatus.ANSWERED:
            break
        await asyncio.sleep(0.02)
    retried = await post(client, xml)
    assert "材料" in reply_text(await retried.text()), "the stored reply, passively"
    await client.app[keys.DELIVERIES].drain()
    assert tencent.sent == [] and tencent.send_attempts == 1, "not pushed a second time"
    assert len(agent.calls) == 1 and rows(store)[0].status == InboundStatus.DELIVERED


async def test_a_retry_while_the_reply_is_being_pushed_says_success_and_the_resident_gets_it_once(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.1
    tencent.hold = asyncio.Event()  # WeChat is slow to accept the 客服消息
    xml = text_xml("o-race", "社保卡要带什么材料", 3003)
    assert await (await post(client, xml)).text() == "success"
    for _ in range(100):  # until the push has reached WeChat
        if tencent.send_attempts:
            break
        await asyncio.sleep(0.02)
    assert rows(store)[0].status == InboundStatus.PUSHING
    retried = await post(client, xml)
    assert await retried.text() == "success", "the push holds the reply: not also sent passively"
    tencent.hold.set()
    await client.app[keys.DELIVERIES].drain()
    assert len(tencent.sent) == 1 and rows(store)[0].status == InboundStatus.DELIVERED


async def test_two_replicas_on_one_database_run_each_message_once_and_book_once(aiohttp_client, make_wechat, pg_store: Store) -> None:  # type: ignore[no-untyped-def]
    replicas = [
        await aiohttp_client(make_wechat(app_store=pg_store, shared_checkpoints=True, wechat_aes_key=None))
        for _ in range(2)
    ]
    asked = text_xml("o-twice", "我想预约明天上午去南宁市民中心换身份证", 4001)
    first = await asyncio.gather(*(post(r, asked) for r in replicas))
    texts = [await r.text() for r in first]
    assert sorted(t == "success" for t in texts) == [False, True], "one replica answers, the other acknowledges"
    assert any("请确认" in reply_text(t) for t in texts if t != "success")
    confirm = text_xml("o-twice", "确认", 4002)
    second = await asyncio.gather(*(post(r, confirm) for r in replicas))
    answers = [await r.text() for r in second]
    assert sum("预约成功" in reply_text(t) for t in answers if t != "success") == 1
    assert sum(len(agent_of(r).calls) for r in replicas) == 2, "one agent run per message"
    with pg_store.session() as session:
        assert len(session.exec(select(Appointment)).all()) == 1
    assert [r.status for r in rows(pg_store)] == [InboundStatus.DELIVERED] * 2


# ---------------------------------------------------------------------------- 客服消息


async def test_a_slow_reply_arrives_as_a_customer_service_message(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.2
    query, body = sealed(text_xml("o-slow", "身份证丢了怎么办", 5001))
    started = time.monotonic()
    response = await post(client, body, query)
    assert await response.text() == "success" and time.monotonic() - started < 0.2
    await client.app[keys.DELIVERIES].drain()
    [sent] = tencent.sent
    assert sent == {"touser": "o-slow", "msgtype": "text", "text": {"content": sent["text"]["content"]}}
    assert "身份证" in sent["text"]["content"]
    assert tencent.token_requests == 1
    assert rows(store)[0].status == InboundStatus.DELIVERED


async def test_shutdown_waits_for_a_reply_in_flight(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.3
    assert await (await post(client, text_xml("o-bye", "身份证丢了怎么办", 5005))).text() == "success"
    await client.close()  # the app shuts down while the agent is still thinking
    assert len(tencent.sent) == 1 and rows(store)[0].status == InboundStatus.DELIVERED


async def test_a_long_queue_is_acknowledged_at_once_not_at_the_deadline(aiohttp_client, make_wechat, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))  # the default 4 s budget
    client.app[WECHAT].gate.mean_s = 5.0  # turns have been taking longer than the window
    started = time.monotonic()
    response = await post(client, text_xml("o-queue", "身份证丢了怎么办", 5006))
    assert await response.text() == "success" and time.monotonic() - started < 1.0
    await client.app[keys.DELIVERIES].drain()
    assert len(tencent.sent) == 1


async def test_45015_marks_the_message_failed_without_retrying(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.1
    tencent.send_failures.extend([OUT_OF_TIME, OUT_OF_TIME, OUT_OF_TIME])
    await post(client, text_xml("o-gone", "身份证丢了怎么办", 5002))
    await client.app[keys.DELIVERIES].drain()
    assert tencent.send_attempts == 1 and tencent.sent == []
    [row] = rows(store)
    assert row.status == InboundStatus.FAILED and row.attempts == 1
    assert "身份证" in (row.reply or {})["text"], "kept for staff"


async def test_system_busy_is_retried_a_few_times_then_queued_not_dropped(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.1
    tencent.send_failures.extend([BUSY] * 3)
    await post(client, text_xml("o-busy", "身份证丢了怎么办", 5003))
    await client.app[keys.DELIVERIES].drain()
    assert tencent.send_attempts == 3 and tencent.sent == []
    assert rows(store)[0].status == InboundStatus.ANSWERED, "queued in the database for the next sweep"


async def test_busy_then_ok_is_delivered(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.1
    tencent.send_failures.append(BUSY)
    await post(client, text_xml("o-once", "身份证丢了怎么办", 5004))
    await client.app[keys.DELIVERIES].drain()
    assert len(tencent.sent) == 1
    [row] = rows(store)
    assert row.status == InboundStatus.DELIVERED and row.attempts == 2


# ---------------------------------------------------------------------------- the access token


def _redis_or_skip(url: str) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip(f"Redis not reachable at {url}")


async def test_replicas_share_one_token_through_redis(aiohttp_client, make_wechat, tencent) -> None:  # type: ignore[no-untyped-def]
    url = "redis://127.0.0.1:6379/15"
    _redis_or_skip(url)
    app_id = f"wx{uuid.uuid4().hex[:16]}"  # a key of its own in Redis
    tencent.app_id = app_id
    replicas = [
        await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05, redis_url=url, wechat_app_id=app_id))
        for _ in range(2)
    ]
    try:
        for n, replica in enumerate(replicas):
            agent_of(replica).delay = 0.1
            await post(replica, text_xml(f"o-r{n}", "身份证丢了怎么办", 6001 + n))
        for replica in replicas:
            await replica.app[keys.DELIVERIES].drain()
        assert len(tencent.sent) == 2
        assert tencent.token_requests == 1, "the second replica used the token the first stored"
    finally:
        client = replicas[0].app[CLIENT]
        client.session.delete(client.access_token_key)


async def test_without_redis_each_replica_fetches_its_own_token(aiohttp_client, make_wechat, tencent, caplog) -> None:  # type: ignore[no-untyped-def]
    replicas = [
        await aiohttp_client(make_wechat(wechat_aes_key=None, redis_url="redis://127.0.0.1:1/0"))  # nothing listens
        for _ in range(2)
    ]
    assert "unreachable" in caplog.text
    for replica in replicas:
        await asyncio.to_thread(lambda r=replica: r.app[CLIENT].access_token)
    assert tencent.token_requests == 2


async def test_a_rejected_token_is_fetched_again(aiohttp_client, make_wechat, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    wechat = client.app[CLIENT]
    await asyncio.to_thread(lambda: wechat.access_token)
    tencent.tokens.clear()  # WeChat invalidated it (another fetch elsewhere, or expiry)
    await asyncio.to_thread(wechat.message.send_text, "o-x", "你好")
    assert tencent.token_requests == 2 and len(tencent.sent) == 1


# ---------------------------------------------------------------------------- message types


async def test_voice_with_recognition_reaches_the_agent_as_a_transcript(aiohttp_client, make_wechat, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    response = await post(client, voice_xml("o-voice", 7001, "m1", recognition="身份证丢了怎么办"))
    assert "身份证" in reply_text(await response.text())
    [call] = agent_of(client).calls
    assert call.text == "身份证丢了怎么办" and call.transcript == Transcript(confidence=0.9, language="zh")
    assert tencent.media_requests == []


async def test_voice_without_recognition_is_downloaded_and_transcribed_by_the_hook(aiohttp_client, make_wechat, tencent) -> None:  # type: ignore[no-untyped-def]
    heard: list[tuple[bytes, str]] = []

    async def transcribe(audio: bytes, fmt: str) -> tuple[str, Transcript] | None:
        heard.append((audio, fmt))
        return "社保卡要带什么材料", Transcript(confidence=0.7, language="zh")

    app = make_wechat(wechat_aes_key=None)
    app[VOICE] = transcribe
    client = await aiohttp_client(app)
    tencent.media["media-42"] = AMR
    response = await post(client, voice_xml("o-voice2", 7002, "media-42"))
    assert "材料" in reply_text(await response.text())
    assert tencent.media_requests == ["media-42"] and heard == [(AMR, "amr")]
    [call] = agent_of(client).calls
    assert call.transcript == Transcript(confidence=0.7, language="zh")


async def test_voice_without_recognition_or_hook_asks_to_type(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    response = await post(client, voice_xml("o-voice3", 7003, "media-43"))
    assert reply_text(await response.text()) == NOT_HEARD
    assert tencent.media_requests == [] and agent_of(client).calls == [] and count_rows(store) == 0


async def test_unintelligible_voice_asks_to_type(aiohttp_client, make_wechat, tencent) -> None:  # type: ignore[no-untyped-def]
    async def transcribe(audio: bytes, fmt: str) -> tuple[str, Transcript] | None:
        return None

    app = make_wechat(wechat_aes_key=None)
    app[VOICE] = transcribe
    client = await aiohttp_client(app)
    tencent.media["media-44"] = AMR
    response = await post(client, voice_xml("o-voice4", 7004, "media-44"))
    assert reply_text(await response.text()) == NOT_HEARD and agent_of(client).calls == []


async def test_subscribing_gets_the_welcome(aiohttp_client, make_wechat) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat())
    query, body = sealed(event_xml("o-new", "subscribe"))
    assert opened(await (await post(client, body, query)).text()) == WELCOME
    assert agent_of(client).calls == []


async def test_a_menu_click_asks_the_agent_what_the_key_means(aiohttp_client, make_wechat, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    response = await post(client, event_xml("o-menu", "CLICK", "MENU_PROGRESS"))
    assert response.status == 200 and reply_text(await response.text())
    [call] = agent_of(client).calls
    assert call.text == MENU["MENU_PROGRESS"] == "查询办件进度"
    assert rows(store)[0].message_key == f"o-menu:{SENT_AT}", "events dedupe on sender + CreateTime"
    again = await post(client, event_xml("o-menu", "CLICK", "MENU_PROGRESS"))
    assert await again.text() == "success" and len(agent_of(client).calls) == 1


async def test_unknown_events_and_types(aiohttp_client, make_wechat, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None))
    assert await (await post(client, event_xml("o-x", "VIEW", "https://example.org"))).text() == "success"
    assert await (await post(client, event_xml("o-x", "CLICK", "MENU_UNKNOWN"))).text() == "success"
    assert reply_text(await (await post(client, image_xml("o-x", 8001))).text()) == UNSUPPORTED
    assert agent_of(client).calls == [] and count_rows(store) == 0


async def test_without_a_token_the_channel_is_off(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    assert (await client.get("/wechat")).status == 404
    assert WECHAT not in client.app


async def test_safe_mode_without_an_app_id_accepts_plaintext_only(aiohttp_client, make_wechat, caplog) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_app_id=None))  # the mini-program shares token and key
    assert "needs TONGBAN_WECHAT_APP_ID" in caplog.text
    query, body = sealed(text_xml("o-mp", "你好", 9001))
    assert (await post(client, body, query)).status == 400
    assert (await post(client, text_xml("o-mp", "你好", 9002))).status == 200


# ---------------------------------------------------------------------------- staff replies


async def test_staff_replies_reach_a_wechat_resident_as_customer_service_messages(
    aiohttp_client, make_wechat, store, tencent,  # type: ignore[no-untyped-def]
) -> None:
    from tests.helpers.console import act, add_accounts, queue, sign_in

    add_accounts(store)
    client = await aiohttp_client(make_wechat())
    headers, body = sealed(text_xml("oWx-staff-reply", "转人工", 90001))
    assert (await client.post("/wechat", params=headers, data=body.encode())).status == 200
    staff = await sign_in(client, "wangfang")
    waiting = await queue(client)
    assert [c["channel"] for c in waiting] == ["wechat"]
    handoff_id = waiting[0]["handoff_id"]
    assert (await act(client, staff, handoff_id, "claim")).status == 200

    sent = await (await act(client, staff, handoff_id, "reply", text="您好，我是王芳，请讲。")).json()
    assert sent["message"]["delivered"] is True
    assert tencent.sent[-1] == {"touser": "oWx-staff-reply", "msgtype": "text",
                                "text": {"content": "您好，我是王芳，请讲。"}}

    tencent.send_failures.append(OUT_OF_TIME)  # the resident has not written for 48 hours
    kept = await (await act(client, staff, handoff_id, "reply", text="还在吗？")).json()
    assert kept["message"]["delivered"] is False  # kept in the transcript, shown as undelivered
    assert all(m["text"]["content"] != "还在吗？" for m in tencent.sent)


# ---------------------------------------------------------------------------- under load
# The CI-sized form of bench/wechat_load.py: its timing goals (≥ 99 % passive at 50 msg/s)
# live in the benchmark; this checks what must hold at any speed.

LOAD_QUESTIONS = ["身份证丢了怎么办", "社保卡要带什么材料", "居住证怎么办理", "你好", "残疾人证办理需要多久"]
RATE = 20  # messages a second
RESIDENTS = 12
MESSAGES = 48  # four messages per resident, interleaved


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_burst_with_retries_answers_every_message_exactly_once(  # type: ignore[no-untyped-def]
    aiohttp_client, make_wechat, store: Store, tencent, request, database: str,
) -> None:
    app_store = request.getfixturevalue("pg_store") if database == "postgresql" else store
    # a budget short enough that some replies miss the passive window and are pushed instead
    client = await aiohttp_client(make_wechat(app_store=app_store, wechat_aes_key=None, passive_reply_budget_s=0.15))
    passive: Counter[str] = Counter()

    async def send(n: int) -> None:
        openid = f"o-load-{n % RESIDENTS:02d}"
        xml = text_xml(openid, LOAD_QUESTIONS[n % len(LOAD_QUESTIONS)], 900_000 + n)
        attempts = [post(client, xml)]
        if n % 3 == 0:  # WeChat asks again for every third message (its retry after 5 s, sooner)
            attempts.append(_later(0.05 * (n % 4), post(client, xml)))
        for response in await asyncio.gather(*attempts):
            assert response.status == 200
            if await response.text() != "success":
                passive[openid] += 1

    await asyncio.gather(*(_later(n / RATE, send(n)) for n in range(MESSAGES)))
    await client.app[keys.DELIVERIES].drain()

    pushed = Counter(sent["touser"] for sent in tencent.sent)
    per_resident = MESSAGES // RESIDENTS
    answers = {openid: passive[openid] + pushed[openid] for openid in {*passive, *pushed}}
    assert answers == {f"o-load-{r:02d}": per_resident for r in range(RESIDENTS)}, "0 lost, 0 duplicated"
    assert len(agent_of(client).calls) == MESSAGES, "one agent run per message, retries included"
    stored = rows(app_store)
    assert len(stored) == MESSAGES and all(r.status == InboundStatus.DELIVERED for r in stored)


async def _later(delay: float, work):  # type: ignore[no-untyped-def]
    await asyncio.sleep(delay)
    return await work
