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


def test_production_hashes_with_owasp_parameters_whatever_tests_ask(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The suite hashes with argon2's cheapest parameters (tests/conftest.py); that setting must
    never reach production, where a leaked database has to stay costly to guess from."""
    from argon2 import extract_parameters, profiles

    monkeypatch.setenv("TONGBAN_PASSWORD_HASHING", "cheapest")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", "a-real-production-secret")
    owasp = profiles.get_default_parameters()
    for env, expected in (("development", profiles.CHEAPEST), ("production", owasp)):
        monkeypatch.setenv("TONGBAN_ENV", env)
        staff.get_memory_settings.cache_clear()
        with store.session(actor="test") as session:
            account = staff.add_staff(session, username=f"hash-{env}", password="a-long-enough-secret")
            assert extract_parameters(account.password_hash) == expected, env
            if env == "production":  # a cheap hash made elsewhere is upgraded on the first sign-in
                account.password_hash = staff._HASHERS["cheapest"].hash("a-long-enough-secret")
                assert staff.authenticate(session, account.username, "a-long-enough-secret") is account
                assert extract_parameters(account.password_hash) == owasp
    monkeypatch.delenv("TONGBAN_PASSWORD_HASHING")
    monkeypatch.setenv("TONGBAN_ENV", "development")
    staff.get_memory_settings.cache_clear()
    assert staff.get_memory_settings().password_hashing_in_effect == "owasp", "the default"
