"""Checking a pooled PostgreSQL connection before use, only when it has sat idle.

A connection the database dropped (restart, failover, a cut network) must not be handed to a
turn. Pinging at every checkout (SQLAlchemy's `pool_pre_ping`, psycopg_pool's `check`) proves
that, but costs a round trip each time, and a message takes seven checkouts: at 50 messages a
second the pings were a third of the statements sent. A connection returned to the pool a
moment ago was working a moment ago; one idle longer than `IDLE_S` is pinged as before. A drop
in between is met by the statement itself: it fails, the request gets the polite 503 (WeChat
retries; the web page says 稍后), and from then on every connection that came back before the
failure is pinged again at its next checkout, however recently it was used.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

IDLE_S = 1.0  # pinged only after sitting idle this long
_failed_at = float("-inf")  # when the database last failed anyone in this process (monotonic)


def _trusted(returned_at: float | None, now: float, idle_s: float) -> bool:
    """Back in the pool a moment ago, and no connection has failed since: still working."""
    return returned_at is not None and now - returned_at < idle_s and returned_at > _failed_at


def failed(now: float) -> None:
    """A connection failed (dropped, refused): every connection returned before `now` is pinged
    at its next checkout, however recently it came back."""
    global _failed_at
    _failed_at = now


def ping_when_idle(engine: Engine, *, idle_s: float = IDLE_S, clock: Callable[[], float] = time.monotonic) -> None:
    """Instead of `pool_pre_ping`: a raised DisconnectionError makes the pool retry with another."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["returned_at"] = clock()

    @event.listens_for(engine, "handle_error")
    def _failing(context) -> None:  # type: ignore[no-untyped-def]
        if context.is_disconnect or isinstance(context.sqlalchemy_exception, exc.OperationalError):
            failed(clock())

    @event.listens_for(engine, "checkout")
    def _handed_out(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if _trusted(record.info.get("returned_at"), clock(), idle_s):
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)  # the dialect's own, as pre_ping's
        except Exception as error:  # dropped: the pool replaces it
            failed(clock())
            raise exc.DisconnectionError() from error
        if not alive:
            failed(clock())
            raise exc.DisconnectionError()


def idle_check(idle_s: float = IDLE_S, clock: Callable[[], float] = time.monotonic) -> tuple[
        Callable[[Any], None], Callable[[Any], None]]:
    """psycopg_pool's (check, reset) pair: `reset` notes when a connection came back, `check`
    pings only one idle longer than `idle_s` (the pool discards one whose check raises)."""
    from psycopg_pool import ConnectionPool

    returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def check(connection: Any) -> None:
        if _trusted(returned.get(connection), clock(), idle_s):
            return
        try:
            ConnectionPool.check_connection(connection)
        except Exception:
            failed(clock())
            raise

    def reset(connection: Any) -> None:
        returned[connection] = clock()

    return check, reset
