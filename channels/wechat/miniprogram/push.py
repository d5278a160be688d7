"""Mini-program customer-service message push (消息推送, JSON data format).

WeChat signs each push with the configured token (sha1 of token, timestamp and nonce, sorted)
and retries when it hears nothing within 5 s. So a push is verified, stored once under its
MsgId, acknowledged with `success` at once, and answered in the background through the
customer-service send API. Safe mode (an `Encrypt` field) is decrypted with the EncodingAESKey.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tongban.agent.messages import Inbound
from tongban.channels.app import keys
from tongban.channels.app.base import send_reply
from tongban.channels.app.chat_api import MAX_TEXT, error, reply_json
from tongban.channels.app.ratelimit import GATEWAY
from tongban.channels.wechat import security
from tongban.channels.wechat.miniprogram.client import (
    MiniProgramClient,
    NotConfigured,
    WeChatError,
    WeChatUnavailable,
)
from tongban.memory.inbound import accept, record_reply

log = logging.getLogger(__name__)

MP_CLIENT = web.AppKey("miniprogram_client", MiniProgramClient)
TEXT_ONLY = "目前只能处理文字消息，请用文字告诉我您想办什么事。"


def setup(app: web.Application) -> None:
    app[keys.RATE_LIMITS].limit("/api/mp/push", GATEWAY)  # per resident below, once the body says who
    app.router.add_get("/api/mp/push", verify)
    app.router.add_post("/api/mp/push", receive)


def _signed(request: web.Request, token: str) -> bool:
    """The query's signature matches, and its timestamp is recent (old ones are replays)."""
    try:
        security.verify(token, request.query, max_age_s=request.app[keys.SETTINGS].max_request_age_s)
    except security.Refused:
        return False
    return True


def _token(request: web.Request) -> str | None:
    token = request.app[keys.SETTINGS].wechat_token
    return token.get_secret_value() if token else None


async def verify(request: web.Request) -> web.Response:
    """The URL check when the push is configured: echo `echostr` if the signature holds."""
    token = _token(request)
    if token is None:
        return error(503, "not_configured", "消息推送未配置（TONGBAN_WECHAT_TOKEN）")
    if not _signed(request, token):
        return error(403, "bad_signature", "签名校验失败")
    return web.Response(text=request.query.get("echostr", ""))


async def receive(request: web.Request) -> web.Response:
    token = _token(request)
    if token is None:
        return error(503, "not_configured", "消息推送未配置（TONGBAN_WECHAT_TOKEN）")
    if not _signed(request, token):
        log.warning("mini-program push with a bad signature refused")
        return error(403, "bad_signature", "签名校验失败")
    try:
        message = _parse(await request.read(), request, token)
    except _Forged:
        return error(403, "bad_signature", "签名校验失败")
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    if message is None:  # events (user entered the chat…): nothing to answer
        return web.Response(text="success")
    if not await request.app[keys.RATE_LIMITS].allow("chat", f"miniprogram:{message.openid}"):
        log.info("mini-program push from …%s past its rate limit: acknowledged, not answered", message.openid[-6:])
        return web.Response(text="success")  # WeChat must not retry; a flood runs no turns
    store = request.app[keys.STORE]

    def store_once() -> tuple[int, bool]:
        with store.session(actor=f"channel:miniprogram:{message.openid[-6:]}") as session:
            row, fresh = accept(session, store.vault, channel="miniprogram", message_key=message.msg_id,
                                user_id=message.openid, text=message.text, kind=message.kind)
            return row.id or 0, fresh

    row_id, fresh = await asyncio.to_thread(store_once)
    if fresh:
        request.app[keys.DELIVERIES].spawn(_answer(request.app, row_id, message), name=f"mp-push-{row_id}")
    return web.Response(text="success")


@dataclass(frozen=True)
class _Push:
    openid: str
    msg_id: str
    kind: str
    text: str | None


class _Forged(ValueError):
    pass


def _parse(raw: bytes, request: web.Request, token: str) -> _Push | None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser
        raise ValueError("推送内容不是有效的 JSON（请在后台选择 JSON 数据格式）") from exc
    if not isinstance(body, dict):
        raise ValueError("推送内容应为 JSON 对象")
    if "Encrypt" in body:
        body = _decrypt(body, request, token)
    kind = str(body.get("MsgType") or "")
    if kind == "event":
        return None
    openid, msg_id = body.get("FromUserName"), body.get("MsgId")
    if not isinstance(openid, str) or not openid or msg_id in (None, ""):
        raise ValueError("推送缺少 FromUserName 或 MsgId")
    text = body.get("Content") if kind == "text" else None
    if kind == "text" and (not isinstance(text, str) or not text.strip()):
        raise ValueError("文本消息缺少 Content")
    return _Push(openid=openid, msg_id=str(msg_id), kind=kind[:16] or "unknown",
                 text=text.strip()[:MAX_TEXT] if isinstance(text, str) else None)


def _decrypt(body: dict[str, Any], request: web.Request, token: str) -> dict[str, Any]:
    """Safe mode: msg_signature covers the ciphertext; the plaintext is the JSON message."""
    settings = request.app[keys.SETTINGS]
    if settings.wechat_aes_key is None or not settings.miniprogram_app_id:
        raise ValueError("收到加密推送，但未配置 TONGBAN_WECHAT_AES_KEY / 小程序 AppID")
    envelope = security.Envelope(token, settings.wechat_aes_key.get_secret_value(), settings.miniprogram_app_id)
    try:
        plain = envelope.open(body, request.query)
    except security.Refused as exc:
        raise _Forged() from exc
    except security.Malformed as exc:
        raise ValueError(f"加密推送无法解密：{exc}") from exc
    decoded = json.loads(plain)
    if not isinstance(decoded, dict):
        raise ValueError("解密后的推送不是 JSON 对象")
    return decoded


class _Output:
    """The customer-service API as an output channel (text only)."""

    name = "miniprogram"

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def send_text(self, recipient: str, text: str) -> None:
        await self.app[MP_CLIENT].send_text(recipient, text)


async def _answer(app: web.Application, row_id: int, message: _Push) -> None:
    """Run the agent (text only), push the answer, record what was said and whether it arrived."""
    output = _Output(app)
    delivered = False
    if message.text is None:
        reply_body: dict[str, Any] = {"text": TEXT_ONLY}
        sending = output.send_text(message.openid, TEXT_ONLY)
    else:
        reply = await app[keys.AGENT].respond(
            Inbound(channel="miniprogram", user_id=message.openid, text=message.text, message_id=message.msg_id)
        )
        reply_body = reply_json(reply)
        sending = send_reply(output, message.openid, reply) if reply.text else _nothing()  # staff hold it
    try:
        await sending
        delivered = True
    except (WeChatError, WeChatUnavailable, NotConfigured) as exc:
        log.warning("mini-program reply to push %s not delivered: %s", row_id, type(exc).__name__)
    store = app[keys.STORE]

    def record() -> None:
        with store.session(actor="channel:miniprogram") as session:
            record_reply(session, row_id, reply_body, delivered=delivered)

    await asyncio.to_thread(record)


async def _nothing() -> None:
    return None
