"""What else a life event takes: the next items of a 一件事 the resident has not done yet.

The events are data (`memory.models.LifeEvent`); a resident's history is what tongban already
knows about them — items remembered from earlier conversations, their appointments and, once
verified, their applications — so nothing is offered that they have done or been offered.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from tongban.memory.models import Appointment, AppointmentStatus, LifeEvent, Resident, ServiceItem
from tongban.memory.progress import applications_of

MAX_OFFERS = 3


def history(session: Session, resident: Resident) -> set[str]:
    """Item names the resident has dealt with: memory, appointments, their own applications."""
    done = set((resident.memory or {}).get("recent_items", []))
    if resident.id is not None:
        booked = select(ServiceItem.name).join(Appointment, col(Appointment.item_id) == ServiceItem.id).where(
            Appointment.resident_id == resident.id, Appointment.status != AppointmentStatus.CANCELLED)
        done.update(session.exec(booked))
    done.update(view.item for view in applications_of(session, resident))  # empty unless verified
    return done


def next_items(
    events: Iterable[list[list[str]]], item: str, *, done: set[str], offered: set[str], limit: int = MAX_OFFERS
) -> list[str]:
    """The steps after `item` in each event holding it, skipping what is done or was offered.

    A step of alternatives is satisfied by any one of them, and offers its first unoffered one.
    """
    out: list[str] = []
    for steps in events:
        at = next((n for n, group in enumerate(steps) if item in group), None)
        if at is None:
            continue
        for group in steps[at + 1:]:
            if any(name in done or name == item for name in group):
                continue
            choice = next((name for name in group if name not in offered and name not in out), None)
            if choice is not None:
                out.append(choice)
            if len(out) >= limit:
                return out
    return out


def recommend(session: Session, resident: Resident, item: str, *, offered: set[str]) -> list[str]:
    """At most three items to suggest after `item` was answered or booked; the resident's
    history is read only when some event holds the item (most items are in none)."""
    events = [e.steps for e in session.exec(select(LifeEvent).order_by(col(LifeEvent.id)))]
    if not any(item in group for steps in events for group in steps):
        return []
    return next_items(events, item, done=history(session, resident), offered=offered)


def offer_line(items: list[str]) -> str:
    return f"办完这个，您可能还需要：{'、'.join(items)}。"
