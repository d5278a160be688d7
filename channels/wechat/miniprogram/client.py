"""Tencent's mini-program server APIs: code2session, the access token, customer-service send.

All calls go through the app's shared aiohttp session to `wechat_api_base` (a local mock in
tests). WeChat answers errors as `{errcode, errmsg}` with HTTP 200, so every answer is read
as JSON whatever its Content-Type says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tongban.channels.app.settings import ChannelSettings

log = logging.getLogger(__name__)

INVALID_CODE = frozenset({40029, 40163, 40226})  # invalid, already used, high-risk user
EXPIRED_TOKEN = frozenset({40001, 40014, 42001})


class NotConfigured(RuntimeError):
    """The mini-program's app id or secret is not set."""


class WeChatError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(RuntimeError):
    """WeChat could not be reached or answered something that is not its JSON."""


@dataclass(frozen=True)
class MiniProgramUser:
    """Who logged in. WeChat's session_key is deliberately not kept: nothing here needs it."""

    openid: str
    unionid: str | None = None


class MiniProgramClient:
    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._token: tuple[str, float] | None = None  # (access token, refresh after, on the monotonic clock)
        self._token_lock = asyncio.Lock()

    def _credentials(self) -> tuple[str, str]:
        app_id, secret = self.settings.miniprogram_app_id, self.settings.miniprogram_app_secret
        if not app_id or secret is None:
            raise NotConfigured("TONGBAN_MINIPROGRAM_APP_ID and TONGBAN_MINIPROGRAM_APP_SECRET are not set")
        return app_id, secret.get_secret_value()

    async def code2session(self, http: aiohttp.ClientSession, code: str) -> MiniProgramUser:
        """Exchange a wx.login code for the user's openid (and unionid when bound)."""
        app_id, secret = self._credentials()
        data = await self._call(http, "GET", "/sns/jscode2session", params={
            "appid": app_id, "secret": secret, "js_code": code, "grant_type": "authorization_code",
        })
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("code2session answered without an openid")
        return MiniProgramUser(openid=openid, unionid=data.get("unionid") or None)

    async def access_token(self, http: aiohttp.ClientSession, *, refresh: bool = False) -> str:
        """The app's access token, cached in-process until five minutes before it expires."""
        async with self._token_lock:
            if not refresh and self._token and self._token[1] > time.monotonic():
                return self._token[0]
            app_id, secret = self._credentials()
            data = await self._call(http, "GET", "/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": app_id, "secret": secret,
            })
            token = data.get("access_token")
            if not isinstance(token, str):
                raise WeChatUnavailable("the token endpoint answered without an access_token")
            lifetime = int(data.get("expires_in") or 7200)
            self._token = (token, time.monotonic() + max(60, lifetime - 300))
            return token

    async def send_text(self, http: aiohttp.ClientSession, openid: str, text: str) -> None:
        """A customer-service text message; an expired token is refreshed once."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        for attempt in range(2):
            token = await self.access_token(http, refresh=attempt > 0)
            try:
                await self._call(http, "POST", "/cgi-bin/message/custom/send",
                                 params={"access_token": token}, body=body)
                return
            except WeChatError as exc:
                if exc.errcode not in EXPIRED_TOKEN or attempt:
                    raise

    async def _call(self, http: aiohttp.ClientSession, method: str, path: str, *,
                    params: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.settings.wechat_api_base.rstrip("/") + path
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            async with http.request(method, url, params=params, data=payload, headers=headers) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("WeChat %s failed: %s", path, type(exc).__name__)
            raise WeChatUnavailable(path) from exc
        if not isinstance(data, dict):
            raise WeChatUnavailable(path)
        if data.get("errcode"):
            log.warning("WeChat %s answered errcode %s", path, data.get("errcode"))
            raise WeChatError(int(data["errcode"]), str(data.get("errmsg", "")))
        return data
