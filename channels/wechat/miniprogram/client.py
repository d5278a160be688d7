"""The mini-program's calls to Tencent: code2session and customer-service sends (客服消息).

They go through the one WeChat API client (`wechat.api.Client`, wechatpy) with its access token
in the store the 公众号 shares (`wechat.tokens`: Redis across replicas when configured), off
the event loop. WeChat's failures come back as the three errors below, which the handlers turn
into HTTP answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from aiohttp import web
from wechatpy.exceptions import WeChatClientException

from tongban.channels.app.settings import ChannelSettings
from tongban.channels.wechat.api import Client
from tongban.channels.wechat.tokens import tokens_of

log = logging.getLogger(__name__)

INVALID_CODE = frozenset({40029, 40163, 40226})  # invalid, already used, high-risk user
T = TypeVar("T")


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
    """The mini-program's app id on the shared client; the client is made at first use."""

    def __init__(self, settings: ChannelSettings, app: web.Application) -> None:
        self.settings = settings
        self._app = app
        self._client: Client | None = None

    def _wechat(self) -> Client:
        app_id, secret = self.settings.miniprogram_app_id, self.settings.miniprogram_app_secret
        if not app_id or secret is None:
            raise NotConfigured("TONGBAN_MINIPROGRAM_APP_ID and TONGBAN_MINIPROGRAM_APP_SECRET are not set")
        if self._client is None:
            self._client = tokens_of(self._app).client(app_id, secret.get_secret_value(),
                                                       api_base=self.settings.wechat_api_base)
        return self._client

    async def code2session(self, code: str) -> MiniProgramUser:
        """Exchange a wx.login code for the user's openid (and unionid when bound)."""
        client = self._wechat()
        data = await self._call("jscode2session", client.code2session, code)
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("code2session answered without an openid")
        return MiniProgramUser(openid=openid, unionid=data.get("unionid") or None)

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message; an expired token is fetched again once (wechatpy)."""
        client = self._wechat()
        await self._call("message/custom/send", client.message.send_text, openid, text)

    @staticmethod
    async def _call(what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except WeChatClientException as exc:
            if exc.errcode is None:
                log.warning("WeChat %s failed: %s", what, exc.errmsg)
                raise WeChatUnavailable(what) from exc
            log.warning("WeChat %s answered errcode %s", what, exc.errcode)
            raise WeChatError(int(exc.errcode), str(exc.errmsg or "")) from exc
        except (requests.RequestException, ValueError) as exc:
            log.warning("WeChat %s failed: %s", what, type(exc).__name__)
            raise WeChatUnavailable(what) from exc
