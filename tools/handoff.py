"""Hand a conversation to hall staff; while they hold it the bot stays silent.

Staff take a conversation with a conditional UPDATE (`... WHERE status = 'waiting'`): of two
people clicking 接入 at once the database lets exactly one row change, on SQLite and PostgreSQL
alike. Staff work 09:00–12:00 and 14:30–17:30 on working days (statutory holidays and make-up
days from `memory.calendar`); outside those hours the resident is told when someone will answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from tongban.memory.calendar import is_open, next_open_days
from tongban.memory.clock import SHANGHAI
from tongban.memory.models import Handoff, HandoffStatus, utcnow

STAFFED = ((dt.time(9, 0), dt.time(12, 0)), (dt.time(14, 30), dt.time(17, 30)))
HOTLINE = "12345"
UNCLAIMED_NOTICE = (
    "暂时没有工作人员接入，您可以继续等待，工作人员空闲后会马上回复您；"
    f"如有急事，也可以拨打{HOTLINE}政务服务便民热线。"
)


def open_handoff(session: Session, resident_id: int) -> Handoff | None:
    return session.exec(
        select(Handoff).where(Handoff.resident_id == resident_id, col(Handoff.status) != HandoffStatus.CLOSED)
    ).first()


def start_handoff(
    session: Session,
    *,
    resident_id: int,
    channel: str,
    reason: str,
    item_code: str | None = None,
    context: dict[str, Any] | None = None,
) -> Handoff:
    """Queue the conversation for staff; asking twice keeps the one open handoff."""
    existing = open_handoff(session, resident_id)
    if existing is not None:
        return existing
    handoff = Handoff(
        resident_id=resident_id, channel=channel, reason=reason[:200],
        item_code=item_code, context=context or {},
    )
    session.add(handoff)
    session.flush()
    return handoff


def hand_back(session: Session, *, resident_id: int, staff: str) -> Handoff | None:
    handoff = open_handoff(session, resident_id)
    if handoff is not None:
        _close(session, handoff, staff, "handed_back")
    return handoff


def claim(session: Session, handoff_id: int, *, staff: str, now: dt.datetime | None = None) -> bool:
    """Take a waiting conversation; False when someone else already has it (or it is closed)."""
    result = session.execute(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id, col(Handoff.status) == HandoffStatus.WAITING)
        .values(status=HandoffStatus.CLAIMED, staff=staff, claimed_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def finish(session: Session, handoff_id: int, *, staff: str, outcome: str) -> Handoff | None:
    """Close an open handoff by id (`handed_back` to the bot, or `closed`); None if not open."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or handoff.status == HandoffStatus.CLOSED:
        return None
    _close(session, handoff, staff, outcome)
    return handoff


def _close(session: Session, handoff: Handoff, staff: str, outcome: str) -> None:
    handoff.status = HandoffStatus.CLOSED
    handoff.staff = handoff.staff or staff
    handoff.closed_at = utcnow()
    handoff.context = {**(handoff.context or {}), "outcome": outcome}
    session.add(handoff)
    session.flush()


def mark_notified(session: Session, handoff_id: int, now: dt.datetime | None = None) -> bool:
    """Record that the resident was told; only the first caller (of several replicas) wins."""
    result = session.execute(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id, col(Handoff.notified_at).is_(None))
        .values(notified_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def unclaimed(session: Session, *, waited_since: dt.datetime) -> list[Handoff]:
    """Waiting handoffs created before `waited_since` whose resident has not been told yet."""
    return list(session.exec(
        select(Handoff).where(
            Handoff.status == HandoffStatus.WAITING, col(Handoff.notified_at).is_(None),
            col(Handoff.created_at) <= waited_since,
        ).order_by(col(Handoff.created_at))
    ))


# ------------------------------------------------------------------ opening hours


def _local(now: dt.datetime) -> dt.datetime:
    return (now if now.tzinfo else now.replace(tzinfo=SHANGHAI)).astimezone(SHANGHAI)


def staffed(now: dt.datetime) -> bool:
    """Whether hall staff are at work: a working day and inside a staffed window."""
    local = _local(now)
    return is_open(local.date()) and any(start <= local.time() < end for start, end in STAFFED)


def next_staffed(now: dt.datetime) -> dt.datetime:
    """The next moment staff are at work (now, if they are)."""
    local = _local(now)
    if staffed(local):
        return local
    if is_open(local.date()):
        for start, _end in STAFFED:
            if local.time() < start:
                return dt.datetime.combine(local.date(), start, SHANGHAI)
    days = next_open_days(local.date() + dt.timedelta(days=1), 1)
    day = days[0] if days else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, STAFFED[0][0], SHANGHAI)


def after_hours_notice(now: dt.datetime) -> str | None:
    """What to tell a resident handed off when nobody is at work; None during staffed hours."""
    told = _when_staff_answer(now)
    if told is None:
        return None
    lead, day, when = told
    return f"{lead}，工作人员将在{day}{when}后回复您。如有急事，可拨打{HOTLINE}政务服务便民热线。"


def when_staff_answer(now: dt.datetime) -> str | None:
    """The short form for a template variable ("明天上午9点"); None during staffed hours."""
    told = _when_staff_answer(now)
    if told is None:
        return None
    _lead, day, when = told
    day = day.replace("下一个工作日（", "").rstrip("）")  # "12月1日" alone reads the same, shorter
    return f"{day}{when}"


def _when_staff_answer(now: dt.datetime) -> tuple[str, str, str] | None:
    if staffed(now):
        return None
    local, at = _local(now), next_staffed(now)
    when = "上午9点" if at.time() == STAFFED[0][0] else "下午2点半"
    if at.date() == local.date():
        lead = "现在是午休时间" if at.time() == STAFFED[1][0] else "现在是非工作时间"
        return lead, "今天", when
    if at.date() - local.date() == dt.timedelta(days=1) and local.time() >= STAFFED[1][1] and is_open(local.date()):
        return "现在是非工作时间", "明天", when
    return "现在是非工作时间", f"下一个工作日（{at.month}月{at.day}日）", when
