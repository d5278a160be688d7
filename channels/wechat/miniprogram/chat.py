"""The WeChat mini-program's API: login, messages, voice, history, and the message push.

`wx.login()` gives the mini-program a one-time code; `POST /api/mp/login` exchanges it with
WeChat (code2session) for the user's openid and unionid, links the resident (a unionid joins
the 公众号 resident) and returns a signed, expiring Bearer token for the other endpoints.
WeChat's session_key is never stored, returned or logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from tongban.agent.messages import Inbound
from tongban.channels.app import delivery, identity, keys, uploads
from tongban.channels.app.chat_api import (
    BadInput,
    TooLarge,
    bad_input,
    error,
    history,
    json_reply,
    message_text,
    read_audio,
    read_json,
    reply_json,
    respond_to_voice,
    too_large,
)
from tongban.channels.app.delivery import NotDelivered
from tongban.channels.app.ratelimit import Policy
from tongban.channels.app.tokens import InvalidToken, TokenSigner
from tongban.channels.wechat.miniprogram import push as mp_push
from tongban.channels.wechat.miniprogram.client import (
    INVALID_CODE,
    MiniProgramClient,
    NotConfigured,
    WeChatError,
    WeChatUnavailable,
)
from tongban.channels.wechat.tokens import share_tokens
from tongban.memory.residents import resolve

log = logging.getLogger(__name__)

TOKEN_TTL_S = 7 * 24 * 3600
SIGNER = web.AppKey("miniprogram_signer", TokenSigner)


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    app[SIGNER] = TokenSigner(settings.session_secret.get_secret_value(), "miniprogram", TOKEN_TTL_S)
    app[mp_push.MP_CLIENT] = MiniProgramClient(settings, app)
    share_tokens(app)  # the access-token store the 公众号 uses too
    door = app[keys.RATE_LIMITS]
    door.limit("/api/mp/voice", Policy("voice", "rate_upload_address", "rate_upload", resident_of))
    door.limit("/api/mp/upload", Policy("upload", "rate_upload_address", "rate_upload", resident_of))
    door.limit("/api/mp/", Policy("chat", "rate_address", "rate_resident", resident_of, "max_json_bytes"))
    app.router.add_post("/api/mp/login", login)
    app.router.add_post("/api/mp/messages", messages)
    app.router.add_post("/api/mp/voice", voice)
    app.router.add_post("/api/mp/upload", upload)  # materials for review (channels.app.uploads)
    app.router.add_get("/api/mp/history", recent)
    identity.setup(app)  # 实名: a token from the operator's identity provider (channels.app.identity)
    app.router.add_post("/api/mp/identity/nonce", identity_nonce)
    app.router.add_post("/api/mp/identity", verify_identity)
    mp_push.setup(app)
    delivery.register(app, _Output(app))  # staff replies as customer-service messages


class _Output:
    """The mini-program as an output channel: WeChat's customer-service send (客服消息)."""

    name = "miniprogram"

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def send_text(self, recipient: str, text: str) -> None:
        try:
            await self._app[mp_push.MP_CLIENT].send_text(recipient, text)
        except (NotConfigured, WeChatError, WeChatUnavailable) as exc:
            raise NotDelivered(type(exc).__name__) from exc


async def login(request: web.Request) -> web.Response:
    try:
        body = await read_json(request)
        code = body.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > 256:
            raise BadInput("缺少登录凭证 code（来自 wx.login）")
    except TooLarge:
        return too_large(request.client_max_size)  # the route's limit, set at the door
    except BadInput as exc:
        return bad_input(exc)
    app = request.app
    try:
        user = await app[mp_push.MP_CLIENT].code2session(code.strip())
    except NotConfigured:
        return error(503, "not_configured", "小程序登录未配置")
    except WeChatError as exc:
        if exc.errcode in INVALID_CODE:
            return error(401, "invalid_code", "登录凭证无效或已过期，请重新登录")
        return error(502, "wechat_error", "微信登录服务暂时不可用，请稍后再试")
    except WeChatUnavailable:
        return error(502, "wechat_unavailable", "微信登录服务暂时不可用，请稍后再试")
    store = app[keys.STORE]

    def link() -> None:
        with store.session(actor=f"resident:miniprogram:{user.openid[-6:]}") as session:
            resolve(session, store.vault, channel="miniprogram", user_id=user.openid, unionid=user.unionid)

    await asyncio.to_thread(link)
    log.info("mini-program login …%s", user.openid[-6:])
    claims: dict[str, Any] = {"sub": user.openid}
    if user.unionid:
        claims["uid"] = user.unionid
    return json_reply({"token": app[SIGNER].sign(claims), "expires_in": TOKEN_TTL_S})


def claims_of(request: web.Request) -> dict[str, Any]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("missing")
    claims = request.app[SIGNER].verify(token.strip())
    if not isinstance(claims.get("sub"), str):
        raise InvalidToken("malformed")
    return claims


def resident_of(request: web.Request) -> str | None:
    """Who the rate limits count: the Bearer token's openid (the same bucket as its pushes)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    signer = request.app.get(SIGNER)
    if scheme.lower() != "bearer" or signer is None:
        return None
    try:
        sub = signer.verify(token.strip()).get("sub")
    except InvalidToken:
        return None
    return f"miniprogram:{sub}" if isinstance(sub, str) else None


def _unauthorised() -> web.Response:
    response = error(401, "unauthorized", "登录已失效，请重新登录")
    response.headers["WWW-Authenticate"] = 'Bearer realm="tongban"'
    return response


def _inbound(claims: dict[str, Any], text: str) -> Inbound:
    return Inbound(channel="miniprogram", user_id=claims["sub"], text=text, unionid=claims.get("uid"))


async def messages(request: web.Request) -> web.Response:
    try:
        claims = claims_of(request)
    except InvalidToken:
        return _unauthorised()
    try:
        text = message_text(await read_json(request))
    except TooLarge:
        return too_large(request.client_max_size)  # the route's limit, set at the door
    except BadInput as exc:
        return bad_input(exc)
    reply = await request.app[keys.AGENT].respond(_inbound(claims, text))
    return json_reply(reply_json(reply))


async def voice(request: web.Request) -> web.Response:
    try:
        claims = claims_of(request)
    except InvalidToken:
        return _unauthorised()
    limit = request.app[keys.SETTINGS].max_upload_bytes
    try:
        audio, fmt = await read_audio(request, limit)
    except TooLarge:
        return too_large(limit)
    except BadInput as exc:
        return bad_input(exc)
    return json_reply(await respond_to_voice(request.app, _inbound(claims, ""), audio, fmt))


async def upload(request: web.Request) -> web.Response:
    try:
        claims = claims_of(request)
    except InvalidToken:
        return _unauthorised()
    return await uploads.receive(request, channel="miniprogram", user_id=claims["sub"], unionid=claims.get("uid"))


async def recent(request: web.Request) -> web.Response:
    try:
        claims = claims_of(request)
    except InvalidToken:
        return _unauthorised()
    return json_reply(await history(request.app, "miniprogram", claims["sub"]))


async def identity_nonce(request: web.Request) -> web.Response:
    try:
        claims = claims_of(request)
    except InvalidToken:
        return _unauthorised()
    return await identity.nonce(request, "miniprogram", claims["sub"])


async def verify_identity(request: web.Request) -> web.Response:
    try:
        claims = claims_of(request)
    except InvalidToken:
        return _unauthorised()
    try:
        body = await read_json(request)
    except TooLarge:
        return too_large(request.client_max_size)
    except BadInput as exc:
        return bad_input(exc)
    return await identity.establish(request, body, "miniprogram", claims["sub"], unionid=claims.get("uid"))
