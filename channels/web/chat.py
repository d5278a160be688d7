"""The resident web chat: a static page at `/` and its JSON API under `/api/web/`.

Residents are anonymous here: a random web id in a signed, HttpOnly cookie is who they are
(channel "web"). Against cross-site requests, every POST needs an `X-Requested-With` header
(which a form cannot send and a cross-origin script cannot send without a CORS preflight
this server never grants), and the message endpoint takes only `application/json`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from tongban.agent.messages import Inbound
from tongban.channels.app import identity, keys, uploads
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
from tongban.channels.app.ratelimit import Policy, refusal
from tongban.channels.app.tokens import InvalidToken, TokenSigner
from tongban.channels.web import live as web_live
from tongban.memory.residents import resolve, set_elderly

STATIC = Path(__file__).with_name("static")
COOKIE = "tongban_web"
COOKIE_TTL_S = 180 * 24 * 3600
SIGNER = web.AppKey("web_signer", TokenSigner)
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

Handler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    app[SIGNER] = TokenSigner(settings.session_secret.get_secret_value(), "web", COOKIE_TTL_S)
    door = app[keys.RATE_LIMITS]
    door.limit("/api/web/voice", Policy("voice", "rate_upload_address", "rate_upload", resident_of))
    door.limit("/api/web/upload", Policy("upload", "rate_upload_address", "rate_upload", resident_of))
    door.limit("/api/web/", Policy("chat", "rate_address", "rate_resident", resident_of, "max_json_bytes"))
    door.bucket("new-resident", "rate_new_resident_address")  # requests without a cookie, per address
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_post("/api/web/messages", _with_resident(messages, json_only=True))
    app.router.add_post("/api/web/voice", _with_resident(voice, json_only=False))
    app.router.add_post("/api/web/upload", _with_resident(upload, json_only=False))  # materials for review
    app.router.add_get("/api/web/history", _with_resident(recent, json_only=False, post=False))
    app.router.add_post("/api/web/preferences", _with_resident(preferences, json_only=True))  # 大字 → 长者模式
    identity.setup(app)  # 实名: a token from the operator's identity provider (channels.app.identity)
    app.router.add_post("/api/web/identity/nonce", _with_resident(identity_nonce, json_only=False))
    app.router.add_post("/api/web/identity", _with_resident(verify_identity, json_only=True))
    web_live.setup(app, web_id_of)  # staff messages reach the open page


def web_id_of(request: web.Request) -> str | None:
    try:
        claims = request.app[SIGNER].verify(request.cookies.get(COOKIE))
    except InvalidToken:
        return None
    web_id = claims.get("sub")
    return web_id if isinstance(web_id, str) else None


def resident_of(request: web.Request) -> str | None:
    """Who the rate limits count: the signed cookie's web id (none yet: the address alone counts)."""
    signer = request.app.get(SIGNER)
    try:
        sub = signer.verify(request.cookies.get(COOKIE)).get("sub") if signer else None
    except InvalidToken:
        return None
    return f"web:{sub}" if isinstance(sub, str) else None


def _set_cookie(request: web.Request, response: web.StreamResponse, web_id: str) -> None:
    response.set_cookie(
        COOKIE, request.app[SIGNER].sign({"sub": web_id}), max_age=COOKIE_TTL_S, path="/",
        httponly=True, samesite="Lax", secure=request.app[keys.SETTINGS].env == "production",
    )


def _with_resident(handler: Handler, *, json_only: bool, post: bool = True):  # type: ignore[no-untyped-def]
    """CSRF checks, then the resident's web id (a new one, set as a cookie, if none is valid)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if post and not request.headers.get("X-Requested-With"):
            return error(403, "csrf", "请求缺少 X-Requested-With 头")
        if json_only and request.content_type != "application/json":
            return error(415, "unsupported_media_type", "请以 application/json 提交")
        web_id = web_id_of(request)
        fresh = web_id is None
        if fresh and post:  # a new resident row: counted per address
            verdict = await request.app[keys.RATE_LIMITS].allow("new-resident", request.remote or "unknown")
            if not verdict:
                return refusal(request, verdict)
        web_id = web_id or secrets.token_urlsafe(16)
        response = await handler(request, web_id)
        if fresh:
            _set_cookie(request, response, web_id)
        return response

    return wrapped


async def index(request: web.Request) -> web.StreamResponse:
    response = web.FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
    if web_id_of(request) is None:
        _set_cookie(request, response, secrets.token_urlsafe(16))
    return response


async def messages(request: web.Request, web_id: str) -> web.StreamResponse:
    try:
        text = message_text(await read_json(request))
    except TooLarge:
        return too_large(request.client_max_size)  # the route's limit, set at the door
    except BadInput as exc:
        return bad_input(exc)
    reply = await request.app[keys.AGENT].respond(Inbound(channel="web", user_id=web_id, text=text))
    return json_reply(reply_json(reply))


async def voice(request: web.Request, web_id: str) -> web.StreamResponse:
    limit = request.app[keys.SETTINGS].max_upload_bytes
    try:
        audio, fmt = await read_audio(request, limit)
    except TooLarge:
        return too_large(limit)
    except BadInput as exc:
        return bad_input(exc)
    inbound = Inbound(channel="web", user_id=web_id, text="")
    return json_reply(await respond_to_voice(request.app, inbound, audio, fmt))


async def upload(request: web.Request, web_id: str) -> web.StreamResponse:
    """A photo or PDF of a material: reviewed, stored sealed, answered item by item (channels.app.uploads)."""
    return await uploads.receive(request, channel="web", user_id=web_id)


async def preferences(request: web.Request, web_id: str) -> web.StreamResponse:
    """The page's 大字 switch: 长者模式 on the server too (short replies, numbered choices)."""
    try:
        body = await read_json(request)
    except TooLarge:
        return too_large(request.client_max_size)
    except BadInput as exc:
        return bad_input(exc)
    elderly = body.get("elderly")
    if not isinstance(elderly, bool):
        return error(400, "bad_request", "elderly 应为 true 或 false")
    store = request.app[keys.STORE]

    def save() -> None:
        with store.session(actor=f"resident:web:{web_id[-6:]}") as session:
            set_elderly(session, resolve(session, store.vault, channel="web", user_id=web_id), elderly)

    await asyncio.to_thread(save)
    return json_reply({"elderly": elderly})


async def identity_nonce(request: web.Request, web_id: str) -> web.StreamResponse:
    return await identity.nonce(request, "web", web_id)


async def verify_identity(request: web.Request, web_id: str) -> web.StreamResponse:
    try:
        body = await read_json(request)
    except TooLarge:
        return too_large(request.client_max_size)
    except BadInput as exc:
        return bad_input(exc)
    return await identity.establish(request, body, "web", web_id)


async def recent(request: web.Request, web_id: str) -> web.StreamResponse:
    return json_reply(await history(request.app, "web", web_id))
