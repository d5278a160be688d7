"""Pooled PostgreSQL connections are pinged only after sitting idle, and a dropped one is never
handed out: the ping per checkout it replaces was a third of the statements a message sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tongban.memory import liveness
from tongban.memory.db import normalise_url
from tongban.memory.liveness import idle_check, ping_when_idle
from tongban.memory.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(pg_store: Store) -> Iterator[tuple[Engine, Clock, list[int]]]:
    """A one-connection pool on the test's database, its pings counted, its clock ours."""
    clock, sent = Clock(), []
    ours = create_engine(normalise_url(pg_store.settings.url), pool_size=1, max_overflow=0)
    ping = ours.dialect.do_ping
    ours.dialect.do_ping = lambda connection: (sent.append(1), ping(connection))[1]  # type: ignore[method-assign]
    ping_when_idle(ours, idle_s=5, clock=clock)
    failed_at = liveness._failed_at
    liveness._failed_at = float("-inf")
    yield ours, clock, sent
    ours.dispose()
    liveness._failed_at = failed_at  # the process's own record, on its own clock


def pings(sent: list[int]) -> int:
    return len(sent)


def test_a_connection_back_a_moment_ago_is_handed_out_without_a_ping(engine) -> None:  # type: ignore[no-untyped-def]
    ours, clock, sent = engine
    with ours.connect() as connection:
        connection.execute(text("SELECT 2"))
    first = pings(sent)
    clock.now += 1
    with ours.connect() as connection:
        connection.execute(text("SELECT 2"))
    assert pings(sent) == first


def test_after_any_failure_even_a_connection_back_a_moment_ago_is_pinged(engine) -> None:  # type: ignore[no-untyped-def]
    ours, clock, sent = engine
    with ours.connect() as connection:
        connection.execute(text("SELECT 2"))
    clock.now += 1
    liveness.failed(clock.now)  # say the database went away a moment ago and is back
    before = pings(sent)
    with ours.connect() as connection:
        connection.execute(text("SELECT 2"))
    assert pings(sent) == before + 1


def test_one_idle_longer_is_pinged_and_if_dropped_replaced(engine, pg_store: Store) -> None:  # type: ignore[no-untyped-def]
    ours, clock, sent = engine
    with ours.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with pg_store.engine.connect() as admin:  # the database drops it while it sits in the pool
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    clock.now += 6
    before = pings(sent)
    with ours.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid, "a fresh connection"
    assert pings(sent) > before


def test_the_checkpoint_pool_checks_only_connections_idle_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, checked = Clock(), []
    # no failure on our clock yet: an earlier test's, on the process's clock, is far past 1000 s
    monkeypatch.setattr(liveness, "_failed_at", float("-inf"))

    class Connection:
        def execute(self, statement: str) -> None:
            checked.append(statement)

    check, reset = idle_check(idle_s=5, clock=clock)
    psycopg_pool = pytest.importorskip("psycopg_pool")
    original = psycopg_pool.ConnectionPool.check_connection
    psycopg_pool.ConnectionPool.check_connection = staticmethod(lambda c: checked.append("ping"))
    try:
        connection = Connection()
        check(connection)  # never seen: checked
        reset(connection)
        clock.now += 1
        check(connection)  # back a moment ago: not
        clock.now += 10
        check(connection)  # idle a while: checked
    finally:
        psycopg_pool.ConnectionPool.check_connection = original
    assert checked == ["ping", "ping"]
