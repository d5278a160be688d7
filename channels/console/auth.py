"""Console sign-in: server-side sessions, CSRF tokens, roles, and throttled password guessing.

The cookie holds a random session token (HttpOnly, SameSite=Strict, path /console); the
database holds only its hash, so signing out or deactivating an account ends it at once.
Every POST must carry `X-CSRF-Token`, an HMAC of the session token under the session secret,
which a page of another site can neither read nor compute; its Origin must be this site.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from tongban.channels.app import keys
from tongban.channels.app.chat_api import (
    BadInput,
    TooLarge,
    error,
    json_reply,
    read_json,
    same_origin,
)
from tongban.channels.app.ratelimit import refusal
from tongban.channels.console.settings import ConsoleSettings
from tongban.memory import audit, staff
from tongban.memory.models import utcnow
from tongban.memory.staff import StaffView

COOKIE = "tongban_console"
CONSOLE_SETTINGS = web.AppKey("console_settings", ConsoleSettings)
STAFF = "console_staff"  # request key: the signed-in StaffView

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def settings_of(app: web.Application) -> ConsoleSettings:
    return app[CONSOLE_SETTINGS]


def csrf_token(app: web.Application, session_token: str) -> str:
    key = app[keys.SETTINGS].session_secret.get_secret_value().encode()
    return hmac.new(key, b"console-csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def actor(person: StaffView) -> str:
    return f"staff:{person.username}"


async def current_staff(request: web.Request) -> StaffView | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    store = request.app[keys.STORE]

    def load() -> StaffView | None:
        with store.read_session() as session:
            return staff.session_staff(session, token)

    return await asyncio.to_thread(load)


def require(handler: Handler, *, post: bool = False, supervisor: bool = False) -> Handler:
    """Signed in (401), CSRF-checked for writes (403), and the role the handler needs (403)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        person = await current_staff(request)
        if person is None:
            return error(401, "unauthorized", "请先登录")
        if post and not _csrf_ok(request):
            return error(403, "csrf", "请求来源校验失败，请刷新页面后重试")
        if supervisor and not person.supervisor:
            return error(403, "forbidden", "仅值班主管可以执行此操作")
        request[STAFF] = person
        return await handler(request)

    return wrapped


def _csrf_ok(request: web.Request) -> bool:
    token = request.cookies.get(COOKIE, "")
    sent = request.headers.get("X-CSRF-Token", "")
    return bool(sent) and same_origin(request) and hmac.compare_digest(sent, csrf_token(request.app, token))


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE, token, max_age=max_age, path="/console", httponly=True, samesite="Strict",
        secure=request.app[keys.SETTINGS].env == "production",
    )


def _me(request: web.Request, person: StaffView, token: str) -> dict[str, object]:
    return {
        "username": person.username, "display_name": person.display_name, "role": person.role,
        "hall": person.hall, "department": person.department, "supervisor": person.supervisor,
        "csrf": csrf_token(request.app, token),
        "canned_replies": settings_of(request.app).console_canned_replies,
    }


async def me(request: web.Request) -> web.StreamResponse:
    person = await current_staff(request)
    if person is None:
        return error(401, "unauthorized", "请先登录")
    return json_reply(_me(request, person, request.cookies[COOKIE]))


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Username and password as JSON, from this site only; wrong passwords are throttled."""
    if not same_origin(request) or request.content_type != "application/json":
        return error(403, "csrf", "请求来源校验失败")
    try:
        body = await read_json(request)
    except (BadInput, TooLarge):
        return error(400, "bad_request", "请输入用户名和密码")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        return error(400, "bad_request", "请输入用户名和密码")
    username = username.strip()[:64]
    ip = request.remote or "unknown"
    # per account and address, before Argon2's cost: guessing from one place locks nobody else out
    verdict = await request.app[keys.RATE_LIMITS].allow("sign-in", f"{username.lower()}@{ip}")
    if not verdict:
        return refusal(request, verdict)
    settings = settings_of(request.app)
    store = request.app[keys.STORE]
    wait = dt.timedelta(0)

    def attempt() -> tuple[str, StaffView | None, str | None]:
        nonlocal wait
        now, window = utcnow(), dt.timedelta(seconds=settings.console_sign_in_window_s)
        with store.session(actor=f"anonymous:{ip}") as session:
            limit = settings.console_sign_in_failures
            wait = staff.sign_in_wait(session, username, ip, now=now, window=window, free=limit)
            if not wait and staff.recent_failures_from(session, ip, since=now - window) >= limit * 4:
                wait = window  # one address spraying many names
            if wait:
                audit.record(session, action="sign_in_throttled", entity="staff_account", entity_id=username,
                             after={"ip": ip})
                return "throttled", None, None
            account = staff.authenticate(session, username, password)
            if account is None:
                staff.record_failure(session, username, ip=ip)
                return "refused", None, None
            person = staff.view(account)
            session.info["actor"] = actor(person)
            token = staff.open_session(session, account, ttl=dt.timedelta(seconds=settings.console_session_ttl_s))
            audit.record(session, action="sign_in", entity="staff_account", entity_id=username, after={"ip": ip})
            return "ok", person, token

    outcome, person, token = await asyncio.to_thread(attempt)
    if outcome == "throttled":
        response = error(429, "throttled", "登录失败次数过多，请稍后再试")
        response.headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
        return response
    if person is None or token is None:
        await asyncio.sleep(0.2)  # a little friction for guessing, none for colleagues
        return error(401, "bad_credentials", "用户名或密码错误")
    response = json_reply(_me(request, person, token))
    _set_cookie(request, response, token, settings.console_session_ttl_s)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    person: StaffView = request[STAFF]
    token = request.cookies.get(COOKIE, "")
    store = request.app[keys.STORE]

    def end() -> None:
        with store.session(actor=actor(person)) as session:
            staff.close_session(session, token)
            audit.record(session, action="sign_out", entity="staff_account", entity_id=person.username)

    await asyncio.to_thread(end)
    response = json_reply({"signed_out": True})
    response.del_cookie(COOKIE, path="/console")
    return response
