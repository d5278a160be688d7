"""A stand-in for Tencent's API server (api.weixin.qq.com), speaking its documented JSON.

`/cgi-bin/token` issues access tokens (and counts the requests), `/cgi-bin/message/custom/send`
records 客服消息 and can be told to fail, `/cgi-bin/media/get` serves voice as audio/amr.
Errors come in WeChat's `{"errcode": …, "errmsg": …}` shape with HTTP 200, as WeChat sends them;
a failure given as a bare number is answered with that HTTP status instead (a proxy's 500).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import web

AMR = b"#!AMR\n" + bytes(range(32)) * 8  # an AMR header and some frames' worth of bytes
OUT_OF_TIME = {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
BUSY = {"errcode": -1, "errmsg": "system error"}
TOO_MANY = {"errcode": 45047, "errmsg": "out of response count limit"}


class FakeWeChat:
    """Tencent's side for one app: what it was asked, and what it should answer next."""

    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id, self.secret = app_id, secret
        self.token_requests = 0
        self.tokens: set[str] = set()
        self.sent: list[dict[str, Any]] = []  # accepted 客服消息 bodies
        self.send_attempts = 0
        self.send_times: list[float] = []  # time.monotonic() of each attempt
        self.send_failures: list[dict[str, Any] | int] = []  # answered, in order, before any success
        self.hold: asyncio.Event | None = None  # when set, 客服消息 wait for it before being answered
        self.media: dict[str, bytes] = {}
        self.media_requests: list[str] = []
        self._serial = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        app.router.add_get("/cgi-bin/media/get", self.media_get)
        return app

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        query = request.query
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if query.get("appid") != self.app_id:
            return _error(40013, "invalid appid")
        if query.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        token = f"ACCESS_TOKEN_{next(self._serial)}"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def custom_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        self.send_attempts += 1
        self.send_times.append(time.monotonic())
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(47001, "data format error")
        if self.hold is not None:
            await self.hold.wait()
        if self.send_failures:
            failure = self.send_failures.pop(0)
            if isinstance(failure, int):
                return web.Response(status=failure, text="<html>Internal Server Error</html>")
            return web.json_response(failure)
        if body.get("msgtype") != "text" or not body.get("touser"):
            return _error(40008, "invalid message type")
        self.sent.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def media_get(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        media_id = request.query.get("media_id", "")
        self.media_requests.append(media_id)
        if media_id not in self.media:
            return _error(40007, "invalid media_id")
        return web.Response(
            body=self.media[media_id], content_type="audio/amr",
            headers={"Content-Disposition": f'attachment; filename="{media_id}.amr"'},
        )


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": message})
