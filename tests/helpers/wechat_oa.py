"""The 公众号 side of the tests: signed and sealed requests, replies opened like WeChat opens them,
an app whose agent counts its turns. Fixtures `tencent` and `make_wechat` are in tests/channels/conftest.py.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import xmltodict
from sqlmodel import func, select
from wechatpy.crypto import WeChatCrypto

from tests.conftest import NOW
from tests.helpers.wechat_server import FakeWeChat
from tongban.agent.messages import Inbound, Reply
from tongban.agent.service import Agent
from tongban.channels.app import keys
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.wechat.api import RetryPolicy
from tongban.channels.wechat.security import sign
from tongban.memory.models import InboundMessage
from tongban.memory.store import Store

TOKEN = "tongban-test-token"
APP_ID = "wx0123456789abcdef"
SECRET = "test-app-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
ACCOUNT = "gh_tongban"
FAST = RetryPolicy(attempts=3, first_delay_s=0.01)  # WeChat-like backoff, in milliseconds
SENT_AT = int(NOW.timestamp())  # CreateTime: the resident's clock is the test's NOW


# ---------------------------------------------------------------------------- building requests


def text_xml(openid: str, content: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{SENT_AT}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def voice_xml(openid: str, msg_id: int, media_id: str, recognition: str | None = None) -> str:
    heard = f"<Recognition><![CDATA[{recognition}]]></Recognition>" if recognition is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{SENT_AT}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
        f"<MediaId><![CDATA[{media_id}]]></MediaId><Format><![CDATA[amr]]></Format>{heard}"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, key: str | None = None, at: int = SENT_AT) -> str:
    event_key = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>{event_key}</xml>"
    )


def image_xml(openid: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{SENT_AT}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        f"<PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[img1]]></MediaId>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def signed(timestamp: int | None = None, nonce: str | None = None, token: str = TOKEN) -> dict[str, str]:
    """A fresh signed query; each call its own nonce, as WeChat sends (a nonce is used once)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**10))
    return {"signature": sign(token, stamp, nonce), "timestamp": stamp, "nonce": nonce, "openid": "o"}


def sealed(xml: str, *, compatible: bool = False) -> tuple[dict[str, str], str]:
    """What WeChat sends in safe mode (or compatible mode: the plaintext fields beside Encrypt)."""
    query = signed()
    envelope = xmltodict.parse(WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
    query |= {"encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
    inner = xml[len("<xml>"):-len("</xml>")] if compatible else f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
    return query, f"<xml>{inner}<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"


def reply_text(body: str) -> str:
    document = xmltodict.parse(body)["xml"]
    assert document["MsgType"] == "text"
    return str(document["Content"])


def opened(body: str) -> str:
    """Decrypt a safe-mode passive reply, checking its msg_signature like WeChat does."""
    document = xmltodict.parse(body)["xml"]
    return reply_text(WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        body, document["MsgSignature"], document["TimeStamp"], document["Nonce"]))


# ---------------------------------------------------------------------------- apps


class CountingAgent(Agent):
    """The real agent, counting its turns; optionally slow, or with a canned reply."""

    delay = 0.0
    canned: Reply | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[Inbound] = []

    async def respond(self, message: Inbound) -> Reply:
        self.calls.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.canned if self.canned is not None else await super().respond(message)


def wechat_settings(tencent: FakeWeChat, **overrides: Any) -> ChannelSettings:
    values: dict[str, Any] = {
        "env": "test", "session_secret": "test-session-secret-0123456789", "wechat_token": TOKEN,
        "wechat_app_id": APP_ID, "wechat_app_secret": SECRET, "wechat_aes_key": AES_KEY,
        "wechat_api_base": tencent.base,  # type: ignore[attr-defined]
    }
    return ChannelSettings(**(values | overrides))


def agent_of(client) -> CountingAgent:  # type: ignore[no-untyped-def]
    agent = client.app[keys.AGENT]
    assert isinstance(agent, CountingAgent)
    return agent


def rows(store: Store) -> list[InboundMessage]:
    with store.session() as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def count_rows(store: Store) -> int:
    with store.session() as session:
        return int(session.exec(select(func.count()).select_from(InboundMessage)).one())


async def post(client, xml: str, query: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await client.post("/wechat", params=query or signed(), data=xml.encode())
