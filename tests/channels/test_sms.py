"""The SMS channel: gateway webhooks, approved templates only, the menu, budgets, real SDK sends."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

import pytest
from sqlmodel import select

from tests.helpers.sms_servers import AliyunMock, Sent, TencentMock
from tongban.agent.messages import Reply, ToolCall
from tongban.channels.app import keys
from tongban.channels.sms import SMS, SMS_SETTINGS, SmsSettings
from tongban.channels.sms.compose import choose
from tongban.channels.sms.menu import Turn, interpret
from tongban.channels.sms.senders import ConsoleSender, TencentSender
from tongban.channels.sms.templates import (
    DEFAULTS,
    Template,
    TemplateError,
    Variable,
    fit,
    registry,
    render,
    segments,
)
from tongban.channels.sms.wire import Malformed, authorised, parse_aliyun, parse_tencent
from tongban.memory.applications import add_application
from tongban.memory.models import (
    Appointment,
    AppointmentStatus,
    Handoff,
    InboundMessage,
    InboundStatus,
)
from tongban.memory.store import Store

TOKEN = "sms-webhook-token-0123"
PHONE = "13912345678"
RECEIPT = "GX20261101000007"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
_sequence = count(1000)


def aliyun_entry(text: str, *, phone: str = PHONE, sequence: int | None = None, at: str = "2026-11-24 09:30:00") -> dict[str, Any]:
    """One entry of Alibaba's 上行消息 batch push, as documented."""
    return {"phone_number": phone, "send_time": at, "content": text, "sign_name": "通办",
            "dest_code": "1234", "sequence_id": next(_sequence) if sequence is None else sequence}


def tencent_entry(text: str, *, mobile: str = PHONE, time: int = 1795483800) -> dict[str, Any]:
    """Tencent's 回复短信 callback, as documented."""
    return {"extend": "", "mobile": mobile, "nationcode": "86", "sign": "通办", "text": text, "time": time}


def settings(**overrides: Any) -> SmsSettings:
    return SmsSettings(env="test", **{"sms_webhook_token": TOKEN, **overrides})


@pytest.fixture
def sms(aiohttp_client, make_app) -> Callable[..., Awaitable[Any]]:  # type: ignore[no-untyped-def]
    """A running app with the SMS channel configured as the test says."""
    async def start(config: SmsSettings | None = None) -> Any:
        app = make_app()
        app[SMS_SETTINGS] = config or settings()
        return await aiohttp_client(app)

    return start


async def push(client: Any, provider: str, body: Any, *, token: str | None = TOKEN, settle: bool = True) -> Any:
    url = f"/sms/{provider}" + (f"?token={token}" if token else "")
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    response = await client.post(url, data=raw, headers={"Content-Type": "application/json"})
    if settle:
        await client.app[keys.DELIVERIES].drain()
    return response


def rows(store: Store) -> list[InboundMessage]:
    with store.session() as session:
        return list(session.exec(select(InboundMessage).where(InboundMessage.channel == "sms").order_by(InboundMessage.id)))


def outbox(client: Any) -> list[str]:
    sender = client.app[SMS].sender
    assert isinstance(sender, ConsoleSender)
    return [message.key for _phone, message in sender.outbox]


def assert_templated(sent: list[Sent], templates: dict[str, Template]) -> list[str]:
    """Every send is a registered template, its variables complete and within their limits."""
    by_code = {t.code: key for key, t in templates.items()}
    keys_sent = []
    for message in sent:
        assert message.template in by_code, f"unregistered template {message.template}"
        template = templates[by_code[message.template]]
        values = list(message.params.values()) if isinstance(message.params, dict) else message.params
        if isinstance(message.params, dict):
            assert list(message.params) == list(template.variables)
        assert len(values) == len(template.variables)
        for value, spec in zip(values, template.variables.values(), strict=True):
            assert value and len(value) <= spec.max_length and "\n" not in value and "【" not in value
        keys_sent.append(by_code[message.template])
    return keys_sent


# ---------------------------------------------------------------------------- templates and segments


def test_segments_follow_the_70_67_rule_with_the_signature() -> None:
    assert segments("字" * 70) == 1
    assert segments("字" * 71) == 2
    assert segments("字" * 134) == 2
    assert segments("字" * 135) == 3
    assert segments("a" * 201) == 3 and segments("a" * 202) == 4
    templates = registry({"menu": {"text": "字" * 66}})
    assert render(templates, "menu").segments("通办") == 1, "【通办】 + 66 = 70"
    templates = registry({"menu": {"text": "字" * 67}})
    assert render(templates, "menu").segments("通办") == 2, "【通办】 + 67 = 71"


def test_the_menu_fits_one_sms_with_its_signature() -> None:
    templates = registry()
    for key in ("menu", "fallback", "consult", "declined", "handoff", "progress_ask", "book_item"):
        assert render(templates, key).segments("南宁市政务服务") == 1, key


def test_every_default_template_renders_and_fits_its_limits() -> None:
    templates = registry()
    assert set(templates) == set(DEFAULTS)
    long = "很长的事项名称" * 10
    for key, template in templates.items():
        values = {name: ("https://x.cn/i/1" if not spec.truncate else long) for name, spec in template.variables.items()}
        rendered = render(templates, key, values)
        assert "$" not in rendered.text
        for name, spec in template.variables.items():
            assert len(rendered.variables[name]) <= spec.max_length <= 80
            if spec.truncate:
                assert spec.max_length <= 35, "Alibaba's cap for ordinary variables"


def test_variables_are_cleaned_truncated_or_refused() -> None:
    assert fit("item", "【测试】\n居民  身份证", Variable(max_length=35)) == "测试 居民 身份证"
    assert fit("item", "一二三四五六", Variable(max_length=4)) == "一二三…"
    with pytest.raises(TemplateError):
        fit("url", "https://example.gov.cn/items/450000-GA-0001", Variable(max_length=10, truncate=False))
    templates = registry({"item": {"variables": {"item": 20, "url": {"max_length": 10, "truncate": False}}}})
    with pytest.raises(TemplateError):
        render(templates, "item", {"item": "居民身份证换领", "url": "https://example.gov.cn/items/1"})
    with pytest.raises(TemplateError):
        render(registry(), "booked", {"item": "x"})  # missing values never go out blank


def test_overrides_change_codes_and_are_validated() -> None:
    templates = registry({"menu": {"code": "SMS_465000001"}, "item": {"variables": {"item": 50, "url": {"max_length": 90, "truncate": False}}}},
                         variable_limit=35)
    assert templates["menu"].code == "SMS_465000001" and templates["menu"].text == DEFAULTS["menu"]["text"]
    assert templates["item"].variables["item"].max_length == 35, "capped at the gateway's limit"
    with pytest.raises(ValueError):
        registry({"menu": {"text": "您好${name}"}})  # a placeholder without a declared variable


# ---------------------------------------------------------------------------- the menu and the rendering


def test_digits_map_to_the_agent_and_confirmations() -> None:
    assert interpret("1", last_template=None) == Turn(text="查询办件进度")
    assert interpret("２", last_template="menu") == Turn(text="预约办理"), "full-width digits"
    assert interpret(" 0。", last_template=None) == Turn(text="转人工")
    assert interpret("3", last_template=None) == Turn(template="consult")
    assert interpret("", last_template=None) == Turn(template="menu")
    assert interpret("1", last_template="book_confirm") == Turn(text="确认")
    assert interpret("2", last_template="book_confirm") == Turn(text="取消")
    assert interpret("2", last_template="cancel_confirm") == Turn(text="不用")
    assert interpret("换身份证", last_template="book_item") == Turn(text="预约换身份证")
    assert interpret("换身份证要带什么", last_template="menu") == Turn(text="换身份证要带什么")
    assert interpret("12", last_template=None) == Turn(text="12")


def test_free_text_is_never_sent() -> None:
    templates = registry()
    secret = "这是一段模型写的自由文本，绝不能发出去"
    cases = [
        Reply(text=secret, intent="out_of_scope"),
        Reply(text=secret, intent="chitchat"),
        Reply(text=secret, intent="service_lookup"),
        Reply(text=secret, intent="my_data"),
        Reply(text=secret, intent=None, ai_generated=True),
        Reply(text=secret, intent="book_appointment", item="居民身份证换领",
              tool_calls=[ToolCall("book_appointment", {"hall": "南宁市民中心", "date": "2026-11-28", "period": "上午"},
                                   "error", "数据库错误")]),
    ]
    for reply in cases:
        choice = choose(reply, public_url="https://zwfw.example.gov.cn")
        assert choice is not None and choice.key in templates
        rendered = render(templates, choice.key, choice.values)
        assert secret not in rendered.text and secret not in "".join(rendered.variables.values())
    assert choose(Reply(text="", handoff=True), public_url="x") is None, "staff hold the chat: silence"


def test_replies_pick_their_templates_from_structure() -> None:
    url = "https://zwfw.example.gov.cn"
    item = Reply(text="…", intent="service_lookup", cards=[{"type": "item", "code": "450000-GA-0001", "name": "居民身份证换领"}])
    assert choose(item, public_url=url).values == {"item": "居民身份证换领", "url": f"{url}/items/450000-GA-0001"}  # type: ignore[union-attr]
    confirm = Reply(text="…", intent="book_appointment", item="居民身份证换领", quick_replies=["确认", "取消"], tool_calls=[
        ToolCall("book_appointment", {"hall": "南宁市民中心", "date": "2026-11-25", "period": "上午"}, "refused", "needs_confirmation")])
    chosen = choose(confirm, public_url=url)
    assert chosen is not None and chosen.key == "book_confirm"
    assert chosen.values == {"item": "居民身份证换领", "hall": "南宁市民中心", "time": "11月25日上午"}
    refused = Reply(text="…", intent="book_appointment", item="居民身份证换领", quick_replies=["11月30日（周一）上午"],
                    tool_calls=[ToolCall("book_appointment", {}, "refused", "11月28日是周末")])
    assert choose(refused, public_url=url).key == "book_refused"  # type: ignore[union-attr]
    ask_date = Reply(text="…", intent="book_appointment", item="居民身份证换领", quick_replies=["明天上午", "明天下午"])
    assert choose(ask_date, public_url=url).key == "book_date"  # type: ignore[union-attr]
    ask_hall = Reply(text="…", intent="book_appointment", item="居民身份证换领", quick_replies=["南宁市民中心"])
    assert choose(ask_hall, public_url=url).key == "book_hall"  # type: ignore[union-attr]
    assert choose(Reply(text="…", intent="book_appointment"), public_url=url).key == "book_item"  # type: ignore[union-attr]
    assert choose(Reply(text="…", intent="query_progress"), public_url=url).key == "progress_ask"  # type: ignore[union-attr]
    checked = Reply(text="…", intent="query_progress", tool_calls=[ToolCall("query_progress", {"receipt_no": RECEIPT})])
    assert choose(checked, public_url=url).key == "progress_check"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- wire formats and authorisation


def test_both_wire_formats_parse_and_malformed_ones_are_refused() -> None:
    [one] = parse_aliyun(json.dumps([aliyun_entry("你好", sequence=7, phone="8613912345678")]).encode())
    assert one.key == "aliyun:7" and one.phone == PHONE and one.at == dt.datetime(2026, 11, 24, 9, 30, tzinfo=one.at.tzinfo)
    [tc] = parse_tencent(json.dumps(tencent_entry("你好")).encode())
    assert tc.phone == PHONE and tc.key.startswith("tencent:")
    assert parse_tencent(json.dumps(tencent_entry("你好")).encode())[0].key == tc.key, "a retry has the same key"
    assert parse_tencent(json.dumps(tencent_entry("你好呀")).encode())[0].key != tc.key
    assert parse_aliyun(json.dumps([aliyun_entry("hi", phone="12345")]).encode()) == [], "not a mobile: ignored"
    for bad in (b"not json", b"{}", b"[]", b"[1]", json.dumps([{"content": "x"}]).encode(),
                json.dumps([aliyun_entry("x", at="yesterday")]).encode(), "[{\"content\": \"\xff".encode("latin-1"),
                b"[" * 30000):
        with pytest.raises(Malformed):
            parse_aliyun(bad)
    for bad in (b"[]", b"3", b"[" * 30000, json.dumps({"mobile": PHONE, "text": "x"}).encode(),
                json.dumps({**tencent_entry("x"), "time": "soon"}).encode()):
        with pytest.raises(Malformed):
            parse_tencent(bad)


def test_authorisation_needs_every_configured_check() -> None:
    token = settings()
    assert authorised(token, remote="8.8.8.8", header=TOKEN, query=None)
    assert authorised(token, remote="8.8.8.8", header=None, query=TOKEN)
    assert not authorised(token, remote="8.8.8.8", header="wrong", query=None)
    assert not authorised(token, remote="8.8.8.8", header=None, query=None)
    assert not authorised(token, remote="8.8.8.8", header="\udcff\udcfe", query=None), "bytes not UTF-8, as aiohttp reads them"
    ips = SmsSettings(env="test", sms_allowed_ips=["106.11.0.0/16", "127.0.0.1"])
    assert authorised(ips, remote="106.11.3.4", header=None, query=None)
    assert not authorised(ips, remote="10.0.0.1", header=None, query=None)
    both = settings(sms_allowed_ips=["106.11.0.0/16"])
    assert not authorised(both, remote="10.0.0.1", header=TOKEN, query=None)
    assert not authorised(SmsSettings(env="test"), remote="127.0.0.1", header=None, query=None), "nothing configured"
    with pytest.raises(ValueError):
        SmsSettings(env="test", sms_allowed_ips=["not-an-ip"])


# ---------------------------------------------------------------------------- webhooks


async def test_aliyun_push_is_stored_acknowledged_and_answered(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await sms()
    response = await push(client, "aliyun", [aliyun_entry("3", sequence=1)])
    assert response.status == 200 and await response.json() == {"code": 0, "msg": "成功"}
    [row] = rows(store)
    assert row.message_key == "aliyun:1" and row.status == InboundStatus.DELIVERED
    assert PHONE not in row.user_id and store.vault.decrypt(row.text_enc) == "3"
    assert row.reply and row.reply["template"] == "consult" and row.reply["segments"] == 1
    assert outbox(client) == ["consult"]


async def test_aliyun_batches_and_retries_run_once_each(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await sms()
    batch = [aliyun_entry("3", sequence=11), aliyun_entry("3", sequence=12, phone="13800138000"), aliyun_entry("3", sequence=11)]
    assert (await push(client, "aliyun", batch)).status == 200
    assert (await push(client, "aliyun", batch[:2])).status == 200, "the gateway retries the whole push"
    assert [r.message_key for r in rows(store)] == ["aliyun:11", "aliyun:12"]
    assert outbox(client) == ["consult", "consult"]


async def test_the_ack_does_not_wait_for_the_agent(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await sms()
    release = asyncio.Event()

    async def slow(message: Any) -> Reply:
        await release.wait()
        return Reply(text="您好，我是通办政务服务助手。", intent="chitchat")

    client.app[keys.AGENT].respond = slow
    entry = aliyun_entry("你好")
    first = await push(client, "aliyun", [entry], settle=False)
    assert first.status == 200 and await first.json() == {"code": 0, "msg": "成功"}
    [row] = rows(store)
    assert row.status == InboundStatus.RECEIVED, "stored before the ack, answered after it"
    assert (await push(client, "aliyun", [entry], settle=False)).status == 200, "a retry meanwhile"
    release.set()
    await client.app[keys.DELIVERIES].drain()
    assert outbox(client) == ["menu"] and len(rows(store)) == 1


@pytest.mark.parametrize("body", [
    b"{not json", b"{}", b"[]", json.dumps([{"phone_number": PHONE}]),
    json.dumps([aliyun_entry("3", sequence=21), aliyun_entry("3", at="2026/11/24")]),
])
async def test_malformed_aliyun_pushes_are_400_and_store_nothing(sms, store: Store, body: Any) -> None:  # type: ignore[no-untyped-def]
    client = await sms()
    response = await push(client, "aliyun", body)
    assert response.status == 400
    assert (await response.json())["code"] != 0
    assert rows(store) == [] and outbox(client) == []


async def test_tencent_callbacks_single_batch_retry_and_malformed(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await sms()
    single = tencent_entry("3", time=1795483800)
    response = await push(client, "tencent", single)
    assert response.status == 200 and await response.json() == {"result": 0, "errmsg": "OK"}
    assert (await push(client, "tencent", single)).status == 200, "a retry"
    batch = [single, tencent_entry("3", time=1795483860), tencent_entry("3", mobile="13800138000")]
    assert (await push(client, "tencent", batch)).status == 200
    assert len(rows(store)) == 3 and outbox(client) == ["consult"] * 3
    bad = await push(client, "tencent", {"mobile": PHONE})
    assert bad.status == 400 and (await bad.json())["result"] != 0
    assert len(rows(store)) == 3


async def test_wrong_secret_or_address_is_refused_and_stores_nothing(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await sms()
    for token in ("wrong-token", None):
        for provider, body in (("aliyun", [aliyun_entry("3")]), ("tencent", tencent_entry("3"))):
            assert (await push(client, provider, body, token=token)).status == 403
    header = await client.post("/sms/tencent", data=json.dumps(tencent_entry("3")), headers={"X-Tongban-Token": TOKEN})
    assert header.status == 200, "the token may come as a header"
    reader, writer = await asyncio.open_connection(client.host, client.port)  # raw: a header that is not UTF-8
    writer.write(b"POST /sms/aliyun HTTP/1.1\r\nHost: " + client.host.encode() + b"\r\nX-Tongban-Token: \xff\xfe\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]")
    assert (await reader.readline()).split()[1] == b"403"
    writer.close()
    await client.app[keys.DELIVERIES].drain()
    assert len(rows(store)) == 1
    await client.close()

    only_elsewhere = await sms(SmsSettings(env="test", sms_allowed_ips=["106.11.0.0/16"]))
    assert (await push(only_elsewhere, "aliyun", [aliyun_entry("3")], token=None)).status == 403
    nothing = await sms(SmsSettings(env="test"))
    assert (await push(nothing, "aliyun", [aliyun_entry("3")], token=None)).status == 403
    assert len(rows(store)) == 1
    allowed = await sms(SmsSettings(env="test", sms_allowed_ips=["127.0.0.0/8", "::1"]))
    assert (await push(allowed, "aliyun", [aliyun_entry("3")], token=None)).status == 200
    assert len(rows(store)) == 2


# ---------------------------------------------------------------------------- budget


async def test_the_daily_budget_stops_sending_and_keeps_the_reply(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await sms(settings(sms_daily_budget=2, sms_budget_unit="messages"))
    day = dt.datetime(2026, 11, 24, 23, 50, tzinfo=SHANGHAI)
    client.app[SMS].clock = lambda: day
    for _ in range(3):
        await push(client, "aliyun", [aliyun_entry("3")])
    await push(client, "aliyun", [aliyun_entry("3", phone="13800138000")])
    assert outbox(client) == ["consult", "consult", "consult"], "the third to 139… is held; 138… has its own budget"
    held = rows(store)[2]
    assert held.status == InboundStatus.FAILED, "kept for staff"
    assert held.reply == {"template": None, "day": "2026-11-24", "held": "daily_budget"}, "the agent did not even run"
    assert store.vault.decrypt(held.text_enc) == "3"
    day = dt.datetime(2026, 11, 25, 0, 10, tzinfo=SHANGHAI)  # a new day, a new budget
    await push(client, "aliyun", [aliyun_entry("3")])
    assert len(outbox(client)) == 4


async def test_the_budget_counts_segments(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    long_consult = {"consult": {"text": "请直接回复您想办的事" + "。" * 70}}  # 2 segments each
    client = await sms(settings(sms_daily_budget=3, sms_templates=long_consult))
    await push(client, "aliyun", [aliyun_entry("3")])
    await push(client, "aliyun", [aliyun_entry("3")])
    assert len(outbox(client)) == 1 and rows(store)[0].reply["segments"] == 2  # type: ignore[index]
    held = rows(store)[1]
    assert held.status == InboundStatus.FAILED and held.reply and held.reply["held"] == "daily_budget"
    assert held.reply["template"] == "consult", "answered, but the reply did not fit: kept for staff"
    assert json.loads(store.vault.decrypt(held.reply["variables"])) == {}


async def test_staff_messages_go_out_as_a_notice_template_never_as_text(sms, store: Store) -> None:  # type: ignore[no-untyped-def]
    from tongban.channels.app import delivery

    client = await sms(settings(sms_daily_budget=1, sms_budget_unit="messages"))
    words = "您好，您的材料已收到，明天下午三点前来取件"
    assert (await delivery.deliver(client.app, "sms", PHONE, words)).delivered
    [(phone, message)] = list(client.app[SMS].sender.outbox)
    assert phone == PHONE and message.key == "staff_notice" and words not in message.text
    [row] = rows(store)
    assert row.kind == "notice" and row.status == InboundStatus.DELIVERED
    again = await delivery.deliver(client.app, "sms", PHONE, words)
    assert not again.delivered and again.why == "failed", "the daily budget holds for staff too"


# ---------------------------------------------------------------------------- through the SDKs to the mock gateways


async def test_aliyun_sdk_sends_signed_templates(sms, aiohttp_server, store: Store) -> None:  # type: ignore[no-untyped-def]
    gateway = AliyunMock("LTAI-test-key", "aliyun-test-secret")
    server = await aiohttp_server(gateway.app())
    client = await sms(settings(sms_provider="aliyun", sms_access_key_id="LTAI-test-key",
                                sms_access_key_secret="aliyun-test-secret", sms_endpoint=str(server.make_url("")),
                                sms_sign_name="南宁政务"))
    await push(client, "aliyun", [aliyun_entry("3"), aliyun_entry("你好")])
    assert assert_templated(gateway.sent, client.app[SMS].templates) == ["consult", "menu"]
    assert {(s.phone, s.sign) for s in gateway.sent} == {(PHONE, "南宁政务")}
    assert [r.status for r in rows(store)] == [InboundStatus.DELIVERED] * 2
    assert rows(store)[0].reply["reference"].endswith("^0")  # type: ignore[index]
    gateway.refuse_next = "isv.BUSINESS_LIMIT_CONTROL"
    await push(client, "aliyun", [aliyun_entry("3")])
    refused = rows(store)[-1]
    assert refused.status == InboundStatus.FAILED and refused.attempts == 1, "a refusal is not retried"
    assert "BUSINESS_LIMIT_CONTROL" in refused.reply["error"]  # type: ignore[index]


async def test_tencent_sdk_sends_signed_templates(sms, aiohttp_server, store: Store) -> None:  # type: ignore[no-untyped-def]
    gateway = TencentMock("AKID-test", "tencent-test-key")
    server = await aiohttp_server(gateway.app())
    client = await sms(settings(sms_provider="tencent", sms_access_key_id="AKID-test", sms_access_key_secret="tencent-test-key",
                                sms_sdk_app_id="1400000001", sms_endpoint=str(server.make_url(""))))
    await push(client, "tencent", [tencent_entry("3"), tencent_entry("身份证到期了怎么换", time=1795483900)])
    assert assert_templated(gateway.sent, client.app[SMS].templates) == ["consult", "item"]
    assert {(s.phone, s.app_id) for s in gateway.sent} == {(f"+86{PHONE}", "1400000001")}
    assert gateway.sent[1].params[1].endswith("/items/450000-GA-0001")
    wrong = TencentMock("AKID-test", "another-key")  # the mock does check the signature
    other = await aiohttp_server(wrong.app())
    client.app[SMS].sender = TencentSender(settings(
        sms_provider="tencent", sms_access_key_id="AKID-test", sms_access_key_secret="tencent-test-key",
        sms_sdk_app_id="1400000001", sms_endpoint=str(other.make_url(""))))
    await push(client, "tencent", [tencent_entry("3", time=1795484000)])
    failed = rows(store)[-1]
    assert wrong.sent == [] and failed.status == InboundStatus.FAILED and failed.attempts == 1
    assert "AuthFailure.SignatureFailure" in failed.reply["error"]  # type: ignore[index]


# ---------------------------------------------------------------------------- a whole conversation


async def test_a_resident_checks_progress_books_and_asks_for_staff_by_sms(sms, aiohttp_server, store: Store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": RECEIPT, "item": "居民身份证换领", "hall": "南宁市民中心", "status": "审核中",
            "applicant": {"name": "李秀英", "phone": PHONE},
            "events": [{"status": "审核中", "at": "2026-11-20T10:00:00+08:00", "department": "南宁市公安局"}],
        })
    gateway = AliyunMock("LTAI-test-key", "aliyun-test-secret")
    server = await aiohttp_server(gateway.app())
    client = await sms(settings(sms_provider="aliyun", sms_access_key_id="LTAI-test-key",
                                sms_access_key_secret="aliyun-test-secret", sms_endpoint=str(server.make_url(""))))
    templates = client.app[SMS].templates

    async def say(text: str) -> Sent | None:
        before = len(gateway.sent)
        assert (await push(client, "aliyun", [aliyun_entry(text)])).status == 200
        assert_templated(gateway.sent, templates)
        return gateway.sent[-1] if len(gateway.sent) > before else None

    def template_of(sent: Sent | None) -> str:
        assert sent is not None
        return next(k for k, t in templates.items() if t.code == sent.template)

    # progress: the sending phone is the applicant's, proven by the network — no second factor
    # the menu's 1 shows the one application this phone applied for at once (#19: a verified
    # resident's own applications need no receipt number)
    own = await say("1")
    assert template_of(own) == "progress" and own is not None and own.params["receipt"] == RECEIPT
    progress = await say(RECEIPT)
    assert template_of(progress) == "progress" and progress is not None
    assert progress.params == {"receipt": RECEIPT, "item": "居民身份证换领", "status": "审核中"}
    other = "GX20261101000008"
    with store.session() as session:
        add_application(session, store.vault, {"receipt_no": other, "item": "居民身份证换领", "hall": "南宁市民中心",
                                               "status": "已受理", "applicant": {"name": "王五", "phone": "13800138000"}})
    assert template_of(await say(other)) == "progress_check", "someone else's application stays closed"

    # booking: 2 → item → hall → date → 1 (confirm)
    assert template_of(await say("2")) == "book_item"
    hall = await say("换身份证")
    assert template_of(hall) == "book_hall" and hall is not None and hall.params["item"] == "居民身份证换领"
    assert template_of(await say("南宁市民中心")) == "book_date"
    confirm = await say("明天上午")
    assert template_of(confirm) == "book_confirm" and confirm is not None
    assert confirm.params == {"item": "居民身份证换领", "time": "11月25日上午", "hall": "南宁市民中心"}
    with store.session() as session:
        assert session.exec(select(Appointment)).all() == [], "nothing booked before the resident confirms"
    booked = await say("1")
    assert template_of(booked) == "booked" and booked is not None
    with store.session() as session:
        [appointment] = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.CONFIRMED)).all()
    assert str(appointment.date) == "2026-11-25" and booked.params["code"] == appointment.confirmation_code

    # handoff: 0, then the bot is silent while staff hold the conversation
    assert template_of(await say("0")) == "handoff"
    with store.session() as session:
        assert len(session.exec(select(Handoff)).all()) == 1
    assert await say("你好") is None
    assert all(s.phone == PHONE for s in gateway.sent)
    assert all(r.status == InboundStatus.DELIVERED for r in rows(store))
