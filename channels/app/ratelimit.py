"""Rate and size limits at the door of every route: per source address and per resident.

Each channel registers its routes' policies in its `setup(app)` (`Door.limit`); a request's
path picks its policy (the longest registered prefix; any other route gets DEFAULT, so a new
endpoint is limited per address from the day it is added): a per-address limit, a
per-resident limit where the request itself says who the resident is (the web chat's signed
cookie, the mini-program's Bearer token), and the largest body the route may send. Where only
the body says who it is — the 公众号 openid after decryption, an SMS sender's number, a console
account name — the handler asks `Door.allow` and answers in its gateway's way.

The source address is `request.remote`; `X-Forwarded-For` is believed only from
`trusted_proxies` (the ingress), and handlers see the believed address as `request.remote`.
IPv6 addresses count per /64, one subscriber's network. Keys are keyed hashes: the counters hold
no openid, phone number or address.

Counters live in Redis when configured, shared by replicas; with `replicas` above one and no
Redis, start-up warns that each replica counts alone. When Redis stops answering, each
replica counts in its own memory until Redis answers again (retried every `RETRY_S`): limits
loosen by the number of replicas but never vanish, and no resident is refused because a cache
is down.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter

from tongban.channels.app.jsonio import json_error
from tongban.channels.app.settings import BODY_LIMIT_FIELDS, RATE_LIMIT_FIELDS, ChannelSettings

log = logging.getLogger(__name__)

THROTTLED = "您发送得太快了，请稍后再试"
RETRY_S = 30.0  # how long a replica counts alone after Redis failed it
REFUSED = Counter("tongban_rate_limited_total", "Requests refused by a rate limit", ["policy", "scope"])
FALLBACKS = Counter("tongban_rate_limit_fallbacks_total", "Times Redis failed and counting fell back to memory")

Identify = Callable[[web.Request], "str | None"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# ---------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class Policy:
    """Which limits a route has: ChannelSettings field names, so operators tune them by name."""

    name: str  # the counters' bucket
    address: str | None  # per source address
    resident: str | None = None  # per resident, when `identify` finds one
    identify: Identify | None = None
    body: str = "max_upload_bytes"  # the largest body


EXEMPT = Policy("exempt", None)  # probes and Prometheus: internal, kept off the ingress
DEFAULT = Policy("public", "rate_address")
GATEWAY = Policy("gateway", "rate_gateway_address", body="max_webhook_bytes")  # per resident in the handler
PROBES: tuple[tuple[str, Policy], ...] = (("/healthz", EXEMPT), ("/readyz", EXEMPT), ("/metrics", EXEMPT))
# what handlers ask about: bucket → the per-resident limit's field (channels add their own)
BUCKETS = {"chat": "rate_resident", "voice": "rate_upload", "upload": "rate_upload"}


def _covers(prefix: str, path: str) -> bool:
    """A prefix ending in "/" covers what starts with it; any other covers itself and its subpaths."""
    return path.startswith(prefix) if prefix.endswith("/") else path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds, when refused

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True)


# ---------------------------------------------------------------------------- counting


class _Memory(MemoryStorage):
    """limits' memory storage, sweeping expired keys at most once a second.

    The library sweeps every key after every hit: with thousands of residents that is most of a
    hit's cost (0.7 ms at 10,000 keys). Reads check expiry themselves, so the sweep only frees
    memory, and once a second keeps it bounded.
    """

    _swept = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # the private hook it calls on every hit
        now = time.monotonic()
        if now - self._swept >= 1.0:
            self._swept = now
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class _Counters:
    """Sliding-window counters (two numbers per key, however long the window) with the fallback."""

    def __init__(self, url: str | None, prefix: str) -> None:
        self.local = SlidingWindowCounterRateLimiter(_Memory())
        self.storage: Storage | None = None
        self.shared: SlidingWindowCounterRateLimiter | None = None
        if url and not url.startswith("memory://"):
            self.storage = RedisStorage(
                "async+" + url, implementation="redispy", key_prefix=prefix, wrap_exceptions=True,
                socket_timeout=0.25, socket_connect_timeout=0.25,  # a hung Redis must not hold requests
            )
            self.shared = SlidingWindowCounterRateLimiter(self.storage)
        self.down_until = 0.0

    @property
    def where(self) -> str:
        if self.shared is None:
            return "memory"
        return "memory (Redis unreachable)" if time.monotonic() < self.down_until else "redis"

    async def hit(self, items: list[RateLimitItem], key: str) -> Verdict:
        if self.shared is not None and time.monotonic() >= self.down_until:
            try:
                return await self._hit(self.shared, items, key)
            except (StorageError, OSError, TimeoutError) as exc:
                log.warning("rate limits: Redis unreachable (%s); counting in this replica's memory for %gs",
                            type(exc).__name__, RETRY_S)
                FALLBACKS.inc()
                self.down_until = time.monotonic() + RETRY_S
        return await self._hit(self.local, items, key)

    @staticmethod
    async def _hit(limiter: SlidingWindowCounterRateLimiter, items: list[RateLimitItem], key: str) -> Verdict:
        for item in items:  # a refused hit is not counted, so the window frees up on time
            if not await limiter.hit(item, key):
                stats = await limiter.get_window_stats(item, key)
                return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))
        return ALLOWED

    async def close(self) -> None:
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None and hasattr(client, "aclose"):
            try:
                await client.aclose()
            except Exception:  # closing a dead connection
                log.debug("rate limits: closing Redis failed", exc_info=True)


class Door:
    """One app's limits: the policies' parsed limits, the counters and the trusted networks."""

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self.enabled = settings.rate_limits
        self._limits = {name: parse_many(getattr(settings, name)) for name in RATE_LIMIT_FIELDS}
        self._routes: list[tuple[str, Policy]] = list(PROBES)
        self._buckets = dict(BUCKETS)
        self._trusted = _networks(settings.trusted_proxies)
        self._exempt = _networks(settings.rate_limit_exempt)
        self._secret = hashlib.sha256(b"rate-limit-keys:" + settings.session_secret.get_secret_value().encode()).digest()
        self.counters = _Counters(None, settings.rate_limit_key_prefix)

    # ------------------------------------------------------------------ what channels register

    def limit(self, prefix: str, policy: Policy) -> None:
        """Routes under `prefix` get `policy` (a channel's setup calls this for its routes)."""
        for name in (policy.address, policy.resident):
            if name is not None and name not in self._limits:
                raise ValueError(f"{name} is not a rate-limit setting ({', '.join(RATE_LIMIT_FIELDS)})")
        if policy.body not in BODY_LIMIT_FIELDS:
            raise ValueError(f"{policy.body} is not a body-size setting ({', '.join(BODY_LIMIT_FIELDS)})")
        self._routes.append((prefix, policy))

    def bucket(self, name: str, field: str) -> None:
        """A per-resident bucket handlers ask about with `allow` (the limit is a settings field)."""
        if field not in self._limits:
            raise ValueError(f"{field} is not a rate-limit setting")
        self._buckets[name] = field

    def policy_for(self, path: str) -> Policy:
        """The longest registered prefix that covers the path; DEFAULT when none does."""
        best, length = DEFAULT, -1
        for prefix, policy in self._routes:
            if _covers(prefix, path) and len(prefix) > length:
                best, length = policy, len(prefix)
        return best

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """Open the counters (Redis when configured), close them at shutdown."""
        url = self.settings.rate_limit_storage_url or self.settings.redis_url
        if self.enabled and url is None and self.settings.replicas > 1:
            log.warning("rate limits: %d replicas configured but no Redis (TONGBAN_REDIS_URL): each replica counts "
                        "alone, so every limit is %d times looser", self.settings.replicas, self.settings.replicas)
        self.counters = _Counters(url, self.settings.rate_limit_key_prefix)
        if self.counters.storage is not None and not await _reachable(self.counters.storage):
            log.warning("rate limits: Redis unreachable at start-up; counting in memory until it answers")
            self.counters.down_until = time.monotonic() + RETRY_S
        log.info("rate limits: %s, counted in %s", "on" if self.enabled else "OFF", self.counters.where)
        yield
        await self.counters.close()

    def describe(self) -> dict[str, Any]:
        """What is in effect, for logs and the soak's report."""
        return {"enabled": self.enabled, "storage": self.counters.where,
                "trusted_proxies": self.settings.trusted_proxies, "exempt": self.settings.rate_limit_exempt,
                **{name: getattr(self.settings, name) for name in sorted(self._limits)}}

    # ------------------------------------------------------------------ asking

    async def allow(self, bucket: str, resident: str) -> Verdict:
        """May this resident go on? For handlers that learn who it is from the body."""
        if not self.enabled:
            return ALLOWED
        verdict = await self.counters.hit(self._limits[self._buckets[bucket]], self._key(bucket, resident))
        if not verdict:
            REFUSED.labels(policy=bucket, scope="resident").inc()
        return verdict

    def address(self, request: web.Request) -> str:
        """The client: the nearest address in X-Forwarded-For that is not a trusted proxy."""
        remote = request.remote or "unknown"
        if not self._trusted or not _within(remote, self._trusted):
            return remote
        hops = [h.strip() for value in request.headers.getall("X-Forwarded-For", []) for h in value.split(",")]
        for hop in reversed([h for h in hops if h]):
            if _parse(hop) is None:
                break  # garbage: the last proxy we trust is as far as we can see
            remote = hop
            if not _within(hop, self._trusted):
                break
        return remote

    def _key(self, bucket: str, who: str) -> str:
        digest = hmac.new(self._secret, who.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{bucket}:{digest}"

    # ------------------------------------------------------------------ the middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        policy = self.policy_for(request.path)
        if policy is EXEMPT:
            return await handler(request)
        address = self.address(request)
        body_limit = min(getattr(self.settings, policy.body), self.settings.max_upload_bytes)
        if address != request.remote or body_limit != request.client_max_size:
            request = request.clone(remote=address, client_max_size=body_limit)
        verdict = await self._check(request, policy, address)
        if not verdict:
            return refusal(request, verdict)
        if request.content_length is not None and request.content_length > body_limit:
            return too_large(body_limit)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:  # a body without Content-Length, past the route's limit
            return too_large(body_limit)

    async def _check(self, request: web.Request, policy: Policy, address: str) -> Verdict:
        if not self.enabled:
            return ALLOWED
        if policy.address and not _within(address, self._exempt):
            verdict = await self.counters.hit(self._limits[policy.address], self._key(policy.name + "@", _subscriber(address)))
            if not verdict:
                REFUSED.labels(policy=policy.name, scope="address").inc()
                return verdict
        resident = policy.identify(request) if policy.identify else None
        if policy.resident and resident:
            verdict = await self.counters.hit(self._limits[policy.resident], self._key(policy.name, resident))
            if not verdict:
                REFUSED.labels(policy=policy.name, scope="resident").inc()
                return verdict
        return ALLOWED



def too_large(limit: int) -> web.Response:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} KB"
    return json_error(413, "too_large", f"内容太大，请不要超过 {size}")


def refusal(request: web.Request, verdict: Verdict) -> web.Response:
    """429 with Retry-After: JSON for the APIs, a plain sentence for pages and gateways."""
    wait = max(1, verdict.retry_after)
    message = f"{THROTTLED}（约 {wait} 秒后）"
    if request.path.startswith(("/api/", "/console/api/")) or "json" in request.headers.get("Accept", ""):
        response = json_error(429, "rate_limited", message)
    else:
        response = web.Response(status=429, text=message, charset="utf-8")
    response.headers["Retry-After"] = str(wait)
    return response


# ---------------------------------------------------------------------------- addresses


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _networks(entries: list[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _within(address: str, networks: list[Network]) -> bool:
    ip = _parse(address)
    return ip is not None and any(ip in network for network in networks)


def _subscriber(address: str) -> str:
    """IPv6 counts per /64 (a subscriber gets a whole /64); IPv4 per address."""
    ip = _parse(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else address)


async def _reachable(storage: Storage) -> bool:
    try:
        return bool(await storage.check())
    except Exception:  # any failure to answer is "not now"
        return False
