"""Signed requests remembered for their timestamp window, so a signed URL cannot be used twice.

WeChat signs the timestamp and nonce but, in plaintext mode, not the body: without memory, a
captured URL could carry any other body for as long as its timestamp is fresh. Each accepted
(timestamp, nonce) is kept with a digest of its body until the timestamp goes stale; the same
URL again is admitted only with the same body (WeChat's own retry of an unanswered message,
which the inbound table then answers once). The book is shared by replicas: Redis when
configured, else the database (`seen_nonce`). If Redis fails, the database answers instead, so
a replay is never let through because a cache is down. In Redis an entry lapses by the book's
own clock (`now`, injectable); Redis's expiry only clears it away afterwards.

In the database, admitting is one insert that yields to a row already there, inside the
caller's transaction when it has one (the webhook admits and accepts a message in one), and
expired entries are swept at most every `purge_every_s`, not on every request: one kept a
little past its window can only refuse a request that is stale anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col

from tongban.memory.db import insert_new
from tongban.memory.models import SeenNonce
from tongban.memory.store import Store

log = logging.getLogger(__name__)
PREFIX = "tongban:nonce:"


class NonceBook:
    def __init__(self, store: Store, *, window_s: int, redis_url: str | None = None, purge_every_s: float = 60.0) -> None:
        self.store = store
        self.window_s = window_s
        self.purge_every_s = purge_every_s
        self._purged_at = float("-inf")
        self.redis: Any = None
        if redis_url:
            try:
                import redis

                self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
            except Exception as exc:  # not installed, bad URL: the database keeps the book
                log.warning("wechat nonces: Redis unusable (%s); kept in the database", type(exc).__name__)

    @property
    def where(self) -> str:
        return "redis" if self.redis is not None else "database"

    def admit(
        self, channel: str, timestamp: str, nonce: str, body: bytes, now: float, *, session: Session | None = None,
    ) -> bool:
        """True the first time (or for a retry with the same body); False for a replay. With a
        `session`, a database entry is written in it, to commit (or not) with the caller's work."""
        key = hashlib.sha256(f"{channel}\x00{timestamp}\x00{nonce}".encode()).hexdigest()
        digest = hashlib.sha256(body).hexdigest()
        try:
            sent = float(timestamp)
        except ValueError:
            sent = now
        keep_s = max(1, int(max(now, sent) - now + self.window_s + 60))
        if self.redis is not None:
            try:
                return self._admit_in_redis(PREFIX + key, digest, now, keep_s)
            except Exception as exc:  # down or slow: the database decides this one
                log.warning("wechat nonces: Redis failed (%s); asking the database", type(exc).__name__)
        if session is not None:
            return self._admit_in_database(session, key, digest, now, keep_s)
        with self.store.session(actor="system:wechat") as own:
            return self._admit_in_database(own, key, digest, now, keep_s)

    def _admit_in_redis(self, key: str, digest: str, now: float, keep_s: int) -> bool:
        entry = f"{digest} {now + keep_s:.0f}"  # the body's digest, and until when it is kept
        if self.redis.set(key, entry, nx=True, ex=keep_s):
            return True
        seen = self.redis.get(key)
        if seen is None:  # it lapsed in between
            return bool(self.redis.set(key, entry, nx=True, ex=keep_s))
        seen_digest, _, until = seen.decode().partition(" ")
        if until and float(until) <= now:  # lapsed by the book's clock, not yet cleared away
            self.redis.set(key, entry, ex=keep_s)
            return True
        return seen_digest == digest

    def _admit_in_database(self, session: Session, key: str, digest: str, now: float, keep_s: int) -> bool:
        at = dt.datetime.fromtimestamp(now, dt.UTC)
        if now - self._purged_at >= self.purge_every_s:
            self._purged_at = now
            session.execute(delete(SeenNonce).where(col(SeenNonce.expires_at) < at))
        values = {"key": key, "digest": digest, "expires_at": at + dt.timedelta(seconds=keep_s)}
        if insert_new(session, SeenNonce, values, ("key",)).rowcount == 1:
            return True
        seen = session.get(SeenNonce, key)  # admitted before: here, on another replica, or a moment ago
        return seen is not None and seen.digest == digest
