"""Tencent's side: the access token, 客服消息 pushes with bounded retries, media downloads.

wechatpy's client is synchronous (requests); callers run it off the event loop. The token
lives in Redis when configured so every replica uses one token (WeChat invalidates a token
five minutes after the next is fetched, so replicas fetching their own would evict each
other), and a Redis lock lets exactly one replica fetch a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

log = logging.getLogger(__name__)

TOKEN_MARGIN_S = 300  # stop using a token five minutes before WeChat expires it
TRANSIENT = {None, -1}  # no errcode (HTTP or network failure), -1 系统繁忙
OUT_OF_WINDOW = 45015  # 回复时间超过限制: the 48-hour window closed or the user unsubscribed
# never deliverable: out of the window, not following (43004), not this app's openid (40003)
UNDELIVERABLE = {OUT_OF_WINDOW, 43004, 40003}
CUSTOMER_SERVICE_WINDOW_S = 48 * 3600
REDIS_RETRY_S = 30.0  # after a Redis failure, tokens stay in memory this long before Redis is tried again


class Client(WeChatClient):
    """wechatpy's client pointed at `wechat_api_base`, its token shared through `session`."""

    def __init__(
        self, app_id: str, secret: str, *, api_base: str, session: SessionStorage,
        shared_lock: Callable[[], AbstractContextManager[Any]] | None = None, timeout: float = 5.0,
    ) -> None:
        super().__init__(app_id, secret, session=session, timeout=timeout)
        self.API_ROOT = api_base.rstrip("/") + "/"
        self.API_BASE_URL = self.API_ROOT + "cgi-bin/"
        self._shared_lock = shared_lock or nullcontext
        self._local_lock = threading.Lock()
        self._seen: str | None = None  # the token this client last used

    @property
    def access_token(self) -> str:  # type: ignore[override]
        token = self.session.get(self.access_token_key)
        if not token or (self.expires_at and self.expires_at - time.time() < TOKEN_MARGIN_S):
            self.fetch_access_token()
            token = self.session.get(self.access_token_key)
        self._seen = token
        return token  # type: ignore[no-any-return]

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch once for all replicas: under the lock, adopt a token another one just stored.

        wechatpy calls this again when WeChat rejects the token (40001/42001); the token in
        storage is then the one that failed, so it is fetched anew.
        """
        failed = self._seen
        with self._local_lock, self._shared_lock():
            current = self.session.get(self.access_token_key)
            if current and current != failed:
                self._seen = current
                return {"access_token": current}
            response = self._http.get(
                self.API_BASE_URL + "token", timeout=self.timeout,
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            if result.get("errcode"):
                raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self)
            expires_in = int(result.get("expires_in", 7200))
            self.session.set(self.access_token_key, result["access_token"], max(60, expires_in - TOKEN_MARGIN_S))
            self.expires_at = int(time.time()) + expires_in
            self._seen = result["access_token"]
            log.info("fetched a WeChat access token (valid %d s)", expires_in)
            return result

    def code2session(self, js_code: str) -> dict[str, Any]:
        """A mini-program's wx.login code for the user's openid (and unionid when bound)."""
        try:
            response = self._http.get(self.API_ROOT + "sns/jscode2session", timeout=self.timeout, params={
                "appid": self.appid, "secret": self.secret, "js_code": js_code, "grant_type": "authorization_code",
            })
            response.raise_for_status()
            result = response.json()
        except (requests.RequestException, ValueError) as exc:  # unreachable, HTTP error, not JSON
            raise WeChatClientException(None, f"jscode2session: {type(exc).__name__}", client=self) from exc
        if not isinstance(result, dict):
            raise WeChatClientException(None, "jscode2session answered no object", client=self)
        if result.get("errcode"):
            raise WeChatClientException(int(result["errcode"]), result.get("errmsg"), client=self)
        return result

    def download(self, media_id: str) -> bytes:
        """A temporary media file (a voice message's audio) by its MediaId."""
        result = self.media.download(media_id)
        if isinstance(result, requests.Response):
            return result.content
        raise WeChatClientException(None, f"media/get answered JSON: {result!r}"[:200], client=self)


class FallbackStorage(SessionStorage):  # type: ignore[misc]
    """Redis while it answers, this process's memory while it does not.

    Redis going away mid-run must not stop replies: a failed call falls back to memory (and
    Redis is left alone for `REDIS_RETRY_S`), so the replica fetches and keeps its own token
    until Redis is back. Writes go to both, so the memory copy is always current.
    """

    def __init__(self, shared: SessionStorage, *, retry_s: float = REDIS_RETRY_S) -> None:
        self.shared, self.local = shared, MemoryStorage()
        self.retry_s = retry_s
        self._down_until = 0.0

    def get(self, key: str, default: Any = None) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                return self.shared.get(key, default)
            except Exception as exc:  # redis.RedisError, and whatever a broken socket raises
                self._down(exc)
        return self.local.get(key, default)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.local.set(key, value, ttl)
        if time.monotonic() >= self._down_until:
            try:
                self.shared.set(key, value, ttl)
            except Exception as exc:
                self._down(exc)

    def delete(self, key: str) -> None:
        self.local.delete(key)
        with suppress(Exception):
            self.shared.delete(key)

    def _down(self, exc: BaseException) -> None:
        log.warning("Redis unavailable (%s): the WeChat access token is kept in memory for now", type(exc).__name__)
        self._down_until = time.monotonic() + self.retry_s


def token_storage(redis_url: str | None) -> tuple[SessionStorage, Any]:
    """Redis when configured (shared by replicas), falling back to this process's memory
    whenever it does not answer; memory alone without a URL or the redis package."""
    if not redis_url:
        return MemoryStorage(), None
    try:
        import redis

        connection = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    except Exception as exc:  # not installed, bad URL
        log.warning("Redis at %s unusable (%s): the WeChat access token is kept per replica in memory",
                    redis_url.split("@")[-1], type(exc).__name__)
        return MemoryStorage(), None
    storage = FallbackStorage(RedisStorage(connection, prefix="tongban:wechat"))
    try:
        connection.ping()
    except Exception as exc:  # refused, timed out: memory until it answers
        log.warning(
            "Redis at %s unreachable (%s): the WeChat access token is kept per replica in memory until it answers",
            redis_url.split("@")[-1], type(exc).__name__,
        )
        storage._down(exc)
    return storage, connection


def redis_lock(connection: Any, app_id: str) -> Callable[[], AbstractContextManager[Any]]:
    """A cross-replica lock around token fetches; falls through if Redis stalls."""

    @contextmanager
    def locked() -> Iterator[None]:
        from redis.exceptions import RedisError

        lock = connection.lock(f"tongban:wechat:{app_id}:token-lock", timeout=15, blocking_timeout=10)
        try:
            acquired = lock.acquire()
        except RedisError as exc:
            log.warning("token lock unavailable (%s): fetching without it", type(exc).__name__)
            acquired = False
        try:
            yield
        finally:
            if acquired:
                with suppress(RedisError):  # expired meanwhile: nothing to release
                    lock.release()

    return locked


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    first_delay_s: float = 1.0
    factor: float = 2.0


@dataclass(frozen=True)
class Outcome:
    sent: bool
    attempts: int
    errcode: int | None = None


OffLoop = Callable[..., Awaitable[Any]]


async def push_text(
    client: Client, openid: str, text: str, *, policy: RetryPolicy, off_loop: OffLoop,
    still_due: Callable[[], Awaitable[bool]] | None = None,
    release: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Send a 客服消息; transient failures retried with backoff, permanent ones given up at once.

    Between attempts the reply is offered back (`release`) and taken again before the next
    one (`still_due`, False when a retried webhook has delivered it passively meanwhile), so
    it is sent by one party at a time and never twice.
    """
    delay, errcode = policy.first_delay_s, None
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1 and still_due is not None and not await still_due():
            return Outcome(sent=True, attempts=attempt - 1)
        try:
            await off_loop(client.message.send_text, openid, text)
            return Outcome(sent=True, attempts=attempt)
        except WeChatClientException as exc:
            errcode = exc.errcode
            if errcode not in TRANSIENT:
                log.warning("客服消息 refused (%s %s): not retried", errcode, exc.errmsg)
                return Outcome(sent=False, attempts=attempt, errcode=errcode)
        except requests.RequestException as exc:
            errcode = None
            log.info("客服消息 attempt %d: %s", attempt, type(exc).__name__)
        if attempt < policy.attempts:
            if release is not None:
                await release()
            await asyncio.sleep(delay)
            delay *= policy.factor
    log.warning("客服消息 gave up after %d attempts (last errcode %s)", policy.attempts, errcode)
    return Outcome(sent=False, attempts=policy.attempts, errcode=errcode)
