"""Progress goes only to the applicant; wrong factors reveal nothing; guessing is throttled."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from tests.conftest import NOW
from tongban.memory.applications import add_application
from tongban.memory.models import AuditLog
from tongban.memory.progress import (
    ABUSE,
    RECEIPT_BASE_DELAY,
    RECEIPT_FREE,
    Outcome,
    applications_of,
    query_progress,
    receipt_wait,
)
from tongban.memory.residents import Identity, resolve
from tongban.memory.store import Store

APPLICATION = {
    "receipt_no": "GX20261118000123",
    "item": "居民身份证换领",
    "hall": "南宁市民中心",
    "applicant": {"name": "王芳", "phone": "13912345678", "id_number": "450203195503124563"},
    "status": "审核中",
    "events": [
        {"status": "已受理", "at": "2026-11-18T10:00:00+08:00"},
        {"status": "审核中", "at": "2026-11-20T15:00:00+08:00"},
    ],
}


def _seed(store: Store) -> None:
    with store.session() as session:
        add_application(session, store.vault, APPLICATION)


def test_receipt_plus_phone_on_file_discloses(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        result = query_progress(
            session, store.vault, receipt_no="gx20261118000123", phone="13912345678", requester="web:a", now=NOW
        )
    assert result.outcome is Outcome.DISCLOSED
    assert result.view.status == "审核中"
    assert [e["status"] for e in result.view.events] == ["已受理", "审核中"]


def test_receipt_plus_last_four_of_id_discloses(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        result = query_progress(
            session, store.vault, receipt_no="GX20261118000123", id_last4="4563", requester="web:a", now=NOW
        )
    assert result.outcome is Outcome.DISCLOSED


def test_wrong_factor_and_unknown_receipt_look_the_same(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        wrong = query_progress(
            session, store.vault, receipt_no="GX20261118000123", phone="13900000000", requester="web:a", now=NOW
        )
        unknown = query_progress(
            session, store.vault, receipt_no="GX20990101000000", phone="13900000000", requester="web:b", now=NOW
        )
    assert wrong.outcome is unknown.outcome is Outcome.NOT_VERIFIED
    assert wrong.view is None and unknown.view is None


def test_receipt_alone_asks_for_a_second_factor(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        result = query_progress(session, store.vault, receipt_no="GX20261118000123", requester="web:a", now=NOW)
    assert result.outcome is Outcome.NEED_FACTOR and result.view is None


def test_verified_applicant_needs_no_second_factor(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        applicant = resolve(
            session, store.vault, channel="wechat", user_id="o-wangfang",
            identity=Identity(name="王芳", id_number="450203195503124563"),
        )
        stranger = resolve(
            session, store.vault, channel="wechat", user_id="o-other",
            identity=Identity(name="李四", id_number="450102199001011231"),
        )
        own = query_progress(
            session, store.vault, receipt_no="GX20261118000123", resident=applicant, requester="w:1", now=NOW
        )
        other = query_progress(
            session, store.vault, receipt_no="GX20261118000123", resident=stranger, requester="w:2", now=NOW
        )
        assert own.outcome is Outcome.DISCLOSED
        assert other.outcome is Outcome.NEED_FACTOR
        assert [v.receipt_no for v in applications_of(session, applicant)] == ["GX20261118000123"]
        assert applications_of(session, stranger) == []


def test_repeated_failures_are_throttled_even_with_the_right_factor(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        for n in range(5):
            query_progress(
                session, store.vault, receipt_no="GX20261118000123", phone=f"1390000000{n}", requester="sms:x", now=NOW
            )
        blocked = query_progress(
            session, store.vault, receipt_no="GX20261118000123", phone="13912345678", requester="sms:x", now=NOW
        )
        later = query_progress(
            session, store.vault, receipt_no="GX20261118000123", phone="13912345678", requester="sms:x",
            now=NOW + dt.timedelta(minutes=16),
        )
    assert blocked.outcome is Outcome.THROTTLED
    assert later.outcome is Outcome.DISCLOSED


def test_enumerating_receipts_is_throttled_per_requester(store: Store) -> None:
    with store.session() as session:
        outcomes = [
            query_progress(
                session, store.vault, receipt_no=f"GX2026111800{n:04d}", phone="13912345678", requester="web:enum", now=NOW
            ).outcome
            for n in range(8)
        ]
    assert outcomes[:5] == [Outcome.NOT_VERIFIED] * 5
    assert set(outcomes[5:]) == {Outcome.THROTTLED}


def _guess(session, store: Store, n: int, *, at: dt.datetime, phone: str | None = None):  # type: ignore[no-untyped-def]
    """One try from a fresh requester each time (a new cookie per request)."""
    return query_progress(session, store.vault, receipt_no="GX20261118000123", phone=phone or f"1390000{n:04d}",
                          requester=f"web:fresh-{n}-{at.timestamp()}", now=at)


def test_fresh_requesters_share_one_budget_per_receipt_with_growing_delays(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        free = [_guess(session, store, n, at=NOW).outcome for n in range(RECEIPT_FREE)]
        assert free == [Outcome.NOT_VERIFIED] * RECEIPT_FREE
        assert _guess(session, store, 99, at=NOW).outcome is Outcome.THROTTLED  # a new cookie does not help
        waits = []
        at = NOW
        for n in range(4):
            wait = receipt_wait(session, "GX20261118000123", at)
            waits.append(wait)
            assert _guess(session, store, 200 + n, at=at + wait - dt.timedelta(seconds=1)).outcome is Outcome.THROTTLED
            at = at + wait
            assert _guess(session, store, 300 + n, at=at).outcome is Outcome.NOT_VERIFIED
        assert waits == [RECEIPT_BASE_DELAY * 2**n for n in range(4)]
        at += receipt_wait(session, "GX20261118000123", at)
        assert _guess(session, store, 1, at=at, phone="13912345678").outcome is Outcome.DISCLOSED


def test_a_verified_applicant_is_never_locked_out_by_guessing(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        for n in range(RECEIPT_FREE + 3):
            _guess(session, store, n, at=NOW)
        applicant = resolve(session, store.vault, channel="wechat", user_id="o-wangfang",
                            identity=Identity(name="王芳", id_number="450203195503124563"))
        own = query_progress(session, store.vault, receipt_no="GX20261118000123", resident=applicant,
                             requester="wechat:o-wangfang", now=NOW)
    assert own.outcome is Outcome.DISCLOSED


def test_staff_are_alerted_once_when_a_receipt_is_being_guessed(store: Store) -> None:
    _seed(store)
    with store.session() as session:
        for n in range(RECEIPT_FREE + 2):
            _guess(session, store, n, at=NOW + dt.timedelta(hours=n))
        alerts = session.exec(select(AuditLog).where(AuditLog.action == ABUSE)).all()
    assert [(a.entity, a.entity_id, a.after["failures"]) for a in alerts] == [
        ("application", "GX20261118000123", RECEIPT_FREE)]
    assert alerts[0].after["hall_id"] is not None
