"""SMS as an integrator and a resident meet it: links to this server's own port, off-hours
handoffs that say when staff answer, and staff joining plus replying for one paid SMS."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.console import act, add_accounts, queue, sign_in
from tongban.channels.app import keys
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.console.auth import CONSOLE_SETTINGS
from tongban.channels.console.settings import ConsoleSettings
from tongban.channels.sms import SMS, SMS_SETTINGS, SmsSettings
from tongban.channels.sms.senders import ConsoleSender

TOKEN = "sms-webhook-token-0123"
PHONE = "13912345678"


def entry(text: str, at: str, sequence: int) -> dict[str, Any]:
    """One entry of Alibaba's 上行消息 batch push."""
    return {"phone_number": PHONE, "send_time": at, "content": text, "sign_name": "通办", "dest_code": "1234",
            "sequence_id": sequence}


async def push(client: Any, text: str, *, at: str = "2026-11-24 09:30:00", sequence: int = 1) -> None:
    response = await client.post("/sms/aliyun", data=json.dumps([entry(text, at, sequence)], ensure_ascii=False),
                                 headers={"Content-Type": "application/json", "X-Tongban-Token": TOKEN})
    assert response.status == 200, await response.text()
    await client.app[keys.DELIVERIES].drain()


def sent(client: Any) -> list[tuple[str, str]]:
    sender = client.app[SMS].sender
    assert isinstance(sender, ConsoleSender)
    return [(message.key, message.text) for _phone, message in sender.outbox]


async def sms_app(aiohttp_client, make_app, **channel: Any) -> Any:  # type: ignore[no-untyped-def]
    app = make_app(ChannelSettings(env="test", session_secret="test-session-secret-0123456789", **channel))
    app[SMS_SETTINGS] = SmsSettings(env="test", sms_webhook_token=TOKEN)
    app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05)
    return await aiohttp_client(app)


async def test_links_follow_the_port_the_server_listens_on(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await sms_app(aiohttp_client, make_app, port=9123)
    await push(client, "身份证到期了怎么换")
    [(key, text)] = sent(client)
    assert key == "item" and "http://127.0.0.1:9123/items/450000-GA-0001" in text
    assert SmsSettings(env="test", sms_public_url="https://zwfw.example.gov.cn/").public_url("0.0.0.0", 8080) \
        == "https://zwfw.example.gov.cn", "TONGBAN_SMS_PUBLIC_URL, when set, wins"
    assert SmsSettings(env="test").public_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"


async def test_an_off_hours_handoff_says_when_staff_answer(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await sms_app(aiohttp_client, make_app)
    await push(client, "0", at="2026-11-24 20:15:00")  # a Tuesday evening
    [(key, text)] = sent(client)
    assert key == "handoff_later" and "明天上午9点后回复" in text and "12345" in text


async def test_a_handoff_in_staffed_hours_just_says_staff_will_answer(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await sms_app(aiohttp_client, make_app)
    await push(client, "0", at="2026-11-24 10:00:00")
    assert [key for key, _ in sent(client)] == ["handoff"]


async def test_staff_joining_and_replying_cost_one_sms(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    add_accounts(store)
    client = await sms_app(aiohttp_client, make_app)
    await push(client, "0")
    headers = await sign_in(client, "wangfang")
    [row] = await queue(client)
    card = (await (await client.get(f"/console/api/conversations/{row['handoff_id']}")).json())["card"]
    assert card["verified_by"] == "phone", "the network proved the number, not a name: no 已实名 beside no name"
    assert card["resident"]["name"] == "" and card["verified"]
    assert (await act(client, headers, row["handoff_id"], "claim")).status == 200
    assert [key for key, _ in sent(client)] == ["handoff"], "joining alone sends nothing"
    first = await act(client, headers, row["handoff_id"], "reply", text="您好，换身份证请带户口簿。")
    assert (await first.json())["message"]["delivered"] is True
    second = await act(client, headers, row["handoff_id"], "reply", text="工本费20元。")
    assert (await second.json())["message"]["delivered"] is True
    keys_sent = sent(client)
    assert [key for key, _ in keys_sent] == ["handoff", "staff_joined", "staff_notice"]
    assert "王芳" in keys_sent[1][1] and "户口簿" not in keys_sent[1][1], "the staff's words stay in the transcript"
