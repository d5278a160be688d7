"""The progress disclosure rule, in one place.

An application's status, timeline and details go only to its applicant: the receipt number
plus the phone on file or the last four characters of the ID number, or the verified identity
of the asking resident. A wrong factor and an unknown receipt number get the same answer.

Guessing is throttled twice. Per requester: `MAX_FAILURES` in `WINDOW`. Per receipt number,
whoever asks (a fresh cookie is a fresh requester): after `RECEIPT_FREE` failures in
`RECEIPT_WINDOW` each further try waits twice as long as the last (`RECEIPT_BASE_DELAY` up to
`RECEIPT_MAX_DELAY`), so a 4-digit factor takes years rather than hours; the receipt's hall sees
an alert (`ABUSE`, in the audit log) the moment its free tries run out. A verified resident
asking about their own application is never throttled: guessing by others cannot lock them out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from tongban.memory import audit
from tongban.memory.models import (
    Application,
    ApplicationEvent,
    Hall,
    ProgressAttempt,
    Resident,
    ServiceItem,
)
from tongban.memory.pii import Vault

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
RECEIPT_FREE = 5
RECEIPT_WINDOW = dt.timedelta(hours=24)
RECEIPT_BASE_DELAY = dt.timedelta(seconds=30)
RECEIPT_MAX_DELAY = dt.timedelta(hours=1)
ABUSE = "progress_guessing"  # the audit action staff are alerted by


class Outcome(StrEnum):
    DISCLOSED = "disclosed"
    NEED_FACTOR = "need_factor"  # receipt number given, no second factor yet
    NOT_VERIFIED = "not_verified"  # wrong factor or unknown receipt: the same to the asker
    THROTTLED = "throttled"


@dataclass
class ProgressView:
    receipt_no: str
    item: str
    hall: str
    status: str
    events: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ProgressResult:
    outcome: Outcome
    view: ProgressView | None = None


def query_progress(
    session: Session,
    vault: Vault,
    *,
    receipt_no: str,
    requester: str,
    now: dt.datetime,
    phone: str | None = None,
    id_last4: str | None = None,
    resident: Resident | None = None,
) -> ProgressResult:
    receipt_no = receipt_no.strip().upper()[:32]
    application = session.exec(select(Application).where(Application.receipt_no == receipt_no)).first()
    if application is not None and _is_applicant(application, vault, resident):
        return ProgressResult(Outcome.DISCLOSED, _view(session, application))  # before any throttle
    if _throttled(session, requester=requester, receipt_no=receipt_no, now=now):
        return ProgressResult(Outcome.THROTTLED)
    if not phone and not id_last4:
        return ProgressResult(Outcome.NEED_FACTOR)
    if application is not None and _factor_matches(application, vault, phone, id_last4):
        return ProgressResult(Outcome.DISCLOSED, _view(session, application))
    session.add(ProgressAttempt(requester=requester, receipt_no=receipt_no, at=now))
    session.flush()
    if _failures(session, receipt_no, now - RECEIPT_WINDOW) == RECEIPT_FREE:
        audit.record(session, action=ABUSE, entity="application", entity_id=receipt_no, actor="system:progress",
                     after={"failures": RECEIPT_FREE, "hall_id": application.hall_id if application else None})
    return ProgressResult(Outcome.NOT_VERIFIED)


def receipt_wait(session: Session, receipt_no: str, now: dt.datetime) -> dt.timedelta:
    """How long any requester must wait before trying this receipt number again (zero: now)."""
    since = now - RECEIPT_WINDOW
    failures = _failures(session, receipt_no, since)
    if failures < RECEIPT_FREE:
        return dt.timedelta(0)
    last = session.exec(
        select(func.max(ProgressAttempt.at)).where(ProgressAttempt.receipt_no == receipt_no,
                                                   col(ProgressAttempt.at) >= since)
    ).one()
    delay = min(RECEIPT_MAX_DELAY, RECEIPT_BASE_DELAY * 2 ** (failures - RECEIPT_FREE))
    return max(dt.timedelta(0), _aware(last) + delay - _aware(now))


def _failures(session: Session, receipt_no: str, since: dt.datetime) -> int:
    return session.exec(
        select(func.count()).select_from(ProgressAttempt)
        .where(ProgressAttempt.receipt_no == receipt_no, col(ProgressAttempt.at) >= since)
    ).one()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def applications_of(session: Session, resident: Resident) -> list[ProgressView]:
    """A verified resident's own applications, newest first."""
    clauses = []
    if resident.verified and resident.id_number_bidx:
        clauses.append(Application.applicant_id_bidx == resident.id_number_bidx)
    if resident.verified and resident.phone_bidx:
        clauses.append(Application.applicant_phone_bidx == resident.phone_bidx)
    if not clauses:
        return []

    query = select(Application).where(or_(*clauses)).order_by(col(Application.submitted_at).desc())
    return [_view(session, a) for a in session.exec(query)]


def _is_applicant(application: Application, vault: Vault, resident: Resident | None) -> bool:
    if resident is None or not resident.verified:
        return False
    return bool(
        (resident.id_number_bidx and resident.id_number_bidx == application.applicant_id_bidx)
        or (resident.phone_bidx and resident.phone_bidx == application.applicant_phone_bidx)
    )


def _factor_matches(
    application: Application, vault: Vault, phone: str | None, id_last4: str | None
) -> bool:
    if phone and application.applicant_phone_bidx == vault.blind_index("phone", phone):
        return True
    return bool(
        id_last4
        and application.applicant_id_last4_bidx
        == vault.blind_index(f"id4:{application.receipt_no}", id_last4.upper())
    )


def _throttled(session: Session, *, requester: str, receipt_no: str, now: dt.datetime) -> bool:
    by_requester = session.exec(
        select(func.count())
        .select_from(ProgressAttempt)
        .where(ProgressAttempt.requester == requester, col(ProgressAttempt.at) >= now - WINDOW)
    ).one()
    return by_requester >= MAX_FAILURES or receipt_wait(session, receipt_no, now) > dt.timedelta(0)


def _view(session: Session, application: Application) -> ProgressView:
    item = session.get(ServiceItem, application.item_id)
    hall = session.get(Hall, application.hall_id)
    events = session.exec(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application.id)
        .order_by(col(ApplicationEvent.at))
    )
    return ProgressView(
        receipt_no=application.receipt_no,
        item=item.name if item else "",
        hall=hall.name if hall else "",
        status=application.status,
        events=[
            {"status": e.status, "at": e.at.isoformat(), "department": e.department, "note": e.note}
            for e in events
        ],
    )
