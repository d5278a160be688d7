"""Which conversations, recordings, uploads and forms a staff member may see (`memory.staff.Scope`).

A conversation is placed by its hall (the one the resident named, else their usual hall) and
its item's department. Staff see and act on conversations in their scope or held by them;
anything else answers 404, exactly like an id that does not exist, so ids cannot be probed.
Uploaded materials and pre-filled forms open only for the staff member holding a handoff of
their resident, or for a supervisor whose scope covers one.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from tongban.channels.console.cards import place_of
from tongban.memory.models import Handoff, HandoffStatus
from tongban.memory.staff import StaffView

MAX_ID = 2**31 - 1  # the largest id a column holds on every database


def parse_id(text: str | None) -> int | None:
    """A path id, or None (answered 404) for anything not a positive 32-bit integer."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:  # "²".isdigit(), int("²") fails
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def sees(session: Session, agent: Any, person: StaffView, handoff: Handoff) -> bool:
    """In scope, or held by the person: only while they hold it (a closed handoff keeps the name
    of whoever had it, but not their access wherever the resident has moved on to)."""
    hall, department = place_of(session, agent, handoff)
    holder = handoff.staff if handoff.status == HandoffStatus.CLAIMED else None
    return person.may_see(hall, department, holder=holder)


def visible(session: Session, agent: Any, person: StaffView, handoff_id: int | None) -> Handoff | None:
    """The handoff when it exists and is in the person's scope (else None: answered 404)."""
    handoff = session.get(Handoff, handoff_id) if handoff_id else None
    return handoff if handoff is not None and sees(session, agent, person, handoff) else None


def may_act(session: Session, agent: Any, person: StaffView, handoff: Handoff) -> bool:
    """Claim, note, hand back: a conversation in scope that nobody else holds (supervisors may
    step into one held by a colleague in their scope)."""
    held_by_other = handoff.status == HandoffStatus.CLAIMED and handoff.staff != person.username
    return sees(session, agent, person, handoff) and (not held_by_other or person.supervisor)


def may_open_files(session: Session, agent: Any, person: StaffView, resident_id: int) -> bool:
    """Uploads, recordings and forms of a resident: the holder of one of their handoffs, or a
    supervisor whose scope covers one."""
    handoffs = session.exec(
        select(Handoff).where(Handoff.resident_id == resident_id).order_by(col(Handoff.id).desc()).limit(20)
    ).all()
    if any(h.status == HandoffStatus.CLAIMED and h.staff == person.username for h in handoffs):
        return True
    return person.supervisor and any(sees(session, agent, person, h) for h in handoffs)


def sees_resident(session: Session, agent: Any, person: StaffView, resident_id: int) -> bool:
    """Whether any handoff of this resident is one the person may see (recordings in a transcript)."""
    handoffs = session.exec(
        select(Handoff).where(Handoff.resident_id == resident_id).order_by(col(Handoff.id).desc()).limit(20)
    ).all()
    return any(sees(session, agent, person, h) for h in handoffs)
