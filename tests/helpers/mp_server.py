"""A stand-in for Tencent's mini-program APIs, speaking their documented JSON.

`/sns/jscode2session` knows the codes a test registers (errcode 40029 otherwise, and a code
works once, like the real one); `/cgi-bin/token` issues access tokens; and
`/cgi-bin/message/custom/send` records what was sent, refusing unknown or expired tokens
with errcode 40001. Like WeChat, it answers errors with HTTP 200 and `text/plain` JSON.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APP_ID = "wx-test-miniprogram"
APP_SECRET = "test-miniprogram-secret"


@dataclass
class MockWeChat:
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    requests: list[str] = field(default_factory=list)
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def add_code(self, code: str, openid: str, unionid: str | None = None) -> None:
        session = {"openid": openid, "session_key": f"sk-{openid}-secret"}
        if unionid:
            session["unionid"] = unionid
        self.codes[code] = session

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/sns/jscode2session", self.jscode2session)
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        return app

    async def jscode2session(self, request: web.Request) -> web.Response:
        q = request.query
        self.requests.append(request.path_qs)
        if q.get("appid") != APP_ID or q.get("secret") != APP_SECRET:
            return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
        if q.get("grant_type") != "authorization_code":
            return _json({"errcode": 40002, "errmsg": "invalid grant_type"})
        session = self.codes.pop(q.get("js_code", ""), None)
        if session is None:
            return _json({"errcode": 40029, "errmsg": "invalid code, rid: 0"})
        return _json(session)

    async def token(self, request: web.Request) -> web.Response:
        q = request.query
        self.token_requests += 1
        if q.get("appid") != APP_ID or q.get("secret") != APP_SECRET or q.get("grant_type") != "client_credential":
            return _json({"errcode": 40013, "errmsg": "invalid appid"})
        token = f"ACCESS_TOKEN_{next(self._serial)}"
        self.tokens.add(token)
        return _json({"access_token": token, "expires_in": 7200})

    async def custom_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return _json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
        body = json.loads(await request.read())
        if body.get("msgtype") != "text" or not body.get("touser") or not body.get("text", {}).get("content"):
            return _json({"errcode": 44002, "errmsg": "empty post data"})
        self.sent.append(body)
        return _json({"errcode": 0, "errmsg": "ok"})


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="text/plain")
