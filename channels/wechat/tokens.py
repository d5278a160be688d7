"""One access-token store for every WeChat app this server speaks for (公众号 and mini-program).

WeChat invalidates an app's token five minutes after the next is fetched, so whoever fetches must
share: the store is Redis when configured (one token per app id for all replicas, fetched under
a Redis lock), else this process's memory. Each WeChat channel calls `share_tokens(app)` in its
setup; the store opens once, before the channels' own start-up, and closes after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage

from tongban.channels.app import keys
from tongban.channels.wechat.api import Client, redis_lock, token_storage


@dataclass
class Tokens:
    storage: SessionStorage
    redis: Any = None  # the connection behind `storage`, for the fetch lock

    def client(self, app_id: str, secret: str, *, api_base: str) -> Client:
        """Tencent's API for one app, its token kept in this store."""
        return Client(app_id, secret, api_base=api_base, session=self.storage,
                      shared_lock=redis_lock(self.redis, app_id) if self.redis is not None else None)


TOKENS = web.AppKey("wechat_tokens", Tokens)
_INSTALLED = web.AppKey("wechat_tokens_installed", bool)


def share_tokens(app: web.Application) -> None:
    """Open the store at start-up (once, whichever WeChat channel asks first)."""
    if not app.get(_INSTALLED):
        app[_INSTALLED] = True
        app.cleanup_ctx.append(_context)


def tokens_of(app: web.Application) -> Tokens:
    """The app's store; this process's memory when the app never started one (embedders, tools)."""
    return app.get(TOKENS) or Tokens(MemoryStorage())


async def _context(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    configured = (settings.wechat_app_id and settings.wechat_app_secret) or \
        (settings.miniprogram_app_id and settings.miniprogram_app_secret)
    storage, redis = await asyncio.to_thread(token_storage, settings.redis_url if configured else None)
    app[TOKENS] = Tokens(storage, redis)
    yield
    if redis is not None:
        redis.close()
