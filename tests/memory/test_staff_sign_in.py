"""Password guessing waits longer each time, per (account, address); nobody else is locked out."""

from __future__ import annotations

import datetime as dt

from tests.conftest import NOW
from tongban.memory import staff
from tongban.memory.models import AuditLog
from tongban.memory.store import Store

WINDOW = dt.timedelta(minutes=15)


def _fail(store: Store, ip: str, at: dt.datetime) -> None:
    with store.session(actor="test") as session:
        staff.record_failure(session, "wangfang", ip=ip)
        session.flush()
        row = session.query(AuditLog).order_by(AuditLog.id.desc()).first()  # type: ignore[attr-defined]
        row.at = at


def _wait(store: Store, ip: str, at: dt.datetime) -> dt.timedelta:
    with store.session() as session:
        return staff.sign_in_wait(session, "wangfang", ip, now=at, window=WINDOW, free=5)


def test_delays_double_per_account_and_address_and_leave_other_addresses_alone(store: Store) -> None:
    at = NOW
    for _ in range(5):
        assert _wait(store, "198.51.100.7", at) == dt.timedelta(0)
        _fail(store, "198.51.100.7", at)
    waits = []
    for _ in range(5):
        wait = _wait(store, "198.51.100.7", at)
        waits.append(wait)
        at += wait
        assert _wait(store, "198.51.100.7", at) == dt.timedelta(0)
        _fail(store, "198.51.100.7", at)
    assert waits == [dt.timedelta(seconds=30 * 2**n) for n in range(5)]
    for _ in range(6):
        _fail(store, "198.51.100.7", at)
    assert _wait(store, "198.51.100.7", at) == WINDOW  # capped at the window
    assert _wait(store, "203.0.113.9", at) == dt.timedelta(0)  # the colleague at another address
    assert _wait(store, "198.51.100.7", at + 2 * WINDOW) == dt.timedelta(0)  # forgotten after the window
