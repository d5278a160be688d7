"""Hand a conversation to hall staff; while they hold it the bot stays silent."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from memory.models import Handoff, HandoffStatus, utcnow


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
        handoff.status = HandoffStatus.CLOSED
        handoff.staff = handoff.staff or staff
        handoff.closed_at = utcnow()
        session.add(handoff)
        session.flush()
    return handoff
