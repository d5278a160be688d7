"""Appointment rules, enforced where they cannot be bypassed: in the database.

- a slot's `booked` only grows through a conditional UPDATE (and a CHECK constraint);
- one confirmed appointment per resident, item and day (partial unique index);
- an idempotency key is unique, so a retried request returns the first result;
- cancel and reschedule are single transactions.
Refusals raise `BookingError` with a machine code and a resident-facing reason.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tongban.memory.calendar import day_status, next_open_days
from tongban.memory.models import (
    Appointment,
    AppointmentStatus,
    Hall,
    HallItem,
    Period,
    ServiceItem,
    Slot,
    utcnow,
)

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class BookingError(Exception):
    code: str  # past | closed | outside_hours | full | duplicate | not_handled | not_found | forbidden
    reason: str
    alternatives: list[Slot] = field(default_factory=list)

    def __str__(self) -> str:
        return self.reason


def confirmation_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def hall_handles(session: Session, hall_id: int, item_id: int) -> bool:
    return session.get(HallItem, (hall_id, item_id)) is not None


def period_of(time: dt.time) -> Period:
    return Period.MORNING if time < dt.time(13, 0) else Period.AFTERNOON


def free_slots(
    session: Session,
    *,
    hall_id: int,
    date: dt.date,
    period: str | None = None,
    now: dt.datetime,
) -> list[Slot]:
    """Slots of one hall and day with room left, excluding windows already begun."""
    query = select(Slot).where(
        Slot.hall_id == hall_id, Slot.date == date, col(Slot.booked) < col(Slot.capacity)
    )
    if period:
        query = query.where(Slot.period == period)
    slots = list(session.exec(query.order_by(col(Slot.start))))
    local_now = now.replace(tzinfo=None) if now.tzinfo is None else now
    return [s for s in slots if _starts_at(s, local_now.tzinfo) > local_now]


def _starts_at(slot: Slot, tz: dt.tzinfo | None) -> dt.datetime:
    return dt.datetime.combine(slot.date, slot.start, tzinfo=tz)


def nearest_alternatives(
    session: Session, *, hall_id: int, after: dt.date, period: str | None, now: dt.datetime, count: int = 3
) -> list[Slot]:
    """The first free slot of each of the next open days (same period when possible)."""
    found: list[Slot] = []
    start = max(after, now.date())
    for day in next_open_days(start, 15):
        slots = free_slots(session, hall_id=hall_id, date=day, period=period, now=now) or (
            free_slots(session, hall_id=hall_id, date=day, now=now) if period else []
        )
        if slots:
            found.append(slots[0])
        if len(found) >= count:
            break
    return found


def choose_slot(
    session: Session,
    *,
    hall: Hall,
    item: ServiceItem,
    date: dt.date,
    period: str | None = None,
    at: dt.time | None = None,
    now: dt.datetime,
) -> Slot:
    """The first free slot matching a resident's request, or a `BookingError` saying why not."""
    assert hall.id is not None and item.id is not None
    if not hall_handles(session, hall.id, item.id):
        raise BookingError("not_handled", f"{hall.name}不办理“{item.name}”，请换一个办事大厅。")
    if date < now.date():
        raise BookingError("past", f"{date:%m月%d日}已经过去了，请选择今天以后的日期。")
    status = day_status(date)
    if not status.open:
        raise BookingError(
            "closed",
            f"{date:%m月%d日}是{status.reason}，{hall.name}不办公。",
            nearest_alternatives(session, hall_id=hall.id, after=date, period=period, now=now),
        )
    if at is not None:
        opening = [(hall.am_open, hall.am_close), (hall.pm_open, hall.pm_close)]
        if not any(start <= at < end for start, end in opening):
            raise BookingError(
                "outside_hours",
                f"{at:%H:%M}不在办公时间内（上午{hall.am_open:%H:%M}-{hall.am_close:%H:%M}，"
                f"下午{hall.pm_open:%H:%M}-{hall.pm_close:%H:%M}）。",
            )
        period = period or period_of(at)
    slots = free_slots(session, hall_id=hall.id, date=date, period=period, now=now)
    if at is not None:
        slots = [s for s in slots if s.end > at] or slots
    if not slots:
        when = f"{date:%m月%d日}{period or ''}"
        raise BookingError(
            "full",
            f"{hall.name}{when}已约满或已过办理时间。",
            nearest_alternatives(
                session, hall_id=hall.id, after=date + dt.timedelta(days=1), period=period, now=now
            ),
        )
    return slots[0]


def book(
    session: Session,
    *,
    resident_id: int,
    item_id: int,
    slot_id: int,
    now: dt.datetime,
    idempotency_key: str | None = None,
    replaces_id: int | None = None,
) -> Appointment:
    """Book one place in a slot; the same idempotency key returns the first appointment."""
    if idempotency_key:
        existing = _by_key(session, idempotency_key)
        if existing is not None:
            return _same_owner(existing, resident_id)
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise BookingError("not_found", "没有找到这个预约时段。")
    if not hall_handles(session, slot.hall_id, item_id):
        raise BookingError("not_handled", "该大厅不办理此事项。")
    if _starts_at(slot, now.tzinfo) <= now:
        raise BookingError("past", "这个时段已经开始或已过去，请选择之后的时段。")
    if not day_status(slot.date).open:
        raise BookingError("closed", f"{slot.date:%m月%d日}大厅不办公。")
    try:
        with session.begin_nested():
            taken = session.execute(
                update(Slot)
                .where(col(Slot.id) == slot_id, col(Slot.booked) < col(Slot.capacity))
                .values(booked=Slot.booked + 1)
            )
            if taken.rowcount != 1:
                raise BookingError(
                    "full",
                    "这个时段刚刚约满了。",
                    nearest_alternatives(
                        session, hall_id=slot.hall_id, after=slot.date, period=slot.period, now=now
                    ),
                )
            appointment = Appointment(
                resident_id=resident_id,
                item_id=item_id,
                hall_id=slot.hall_id,
                slot_id=slot_id,
                date=slot.date,
                confirmation_code=confirmation_code(),
                idempotency_key=idempotency_key,
                replaces_id=replaces_id,
            )
            session.add(appointment)
            session.flush()
    except IntegrityError:
        if idempotency_key:
            existing = _by_key(session, idempotency_key)
            if existing is not None:
                return _same_owner(existing, resident_id)
        raise BookingError(
            "duplicate", "您当天已经预约过这个事项了，如需改时间请先取消或改约。"
        ) from None
    session.refresh(slot)
    return appointment


def cancel(session: Session, *, appointment_id: int, resident_id: int) -> Appointment:
    """Cancel and free the place; cancelling twice has no second effect."""
    appointment = _owned(session, appointment_id, resident_id)
    if appointment.status != AppointmentStatus.CONFIRMED:
        return appointment
    _release(session, appointment)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.updated_at = utcnow()
    session.add(appointment)
    session.flush()
    return appointment


def reschedule(
    session: Session,
    *,
    appointment_id: int,
    resident_id: int,
    new_slot_id: int,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> Appointment:
    """Move an appointment to another slot in one step: both happen or neither does."""
    if idempotency_key and (existing := _by_key(session, idempotency_key)) is not None:
        return _same_owner(existing, resident_id)
    old = _owned(session, appointment_id, resident_id)
    if old.status != AppointmentStatus.CONFIRMED:
        raise BookingError("not_found", "这个预约已经取消或改约过了。")
    with session.begin_nested():
        _release(session, old)
        old.status = AppointmentStatus.RESCHEDULED
        old.updated_at = utcnow()
        session.add(old)
        session.flush()
        return book(
            session,
            resident_id=resident_id,
            item_id=old.item_id,
            slot_id=new_slot_id,
            now=now,
            idempotency_key=idempotency_key,
            replaces_id=old.id,
        )


def active_appointments(session: Session, *, resident_id: int, today: dt.date) -> list[Appointment]:
    query = (
        select(Appointment)
        .where(
            Appointment.resident_id == resident_id,
            Appointment.status == AppointmentStatus.CONFIRMED,
            col(Appointment.date) >= today,
        )
        .order_by(col(Appointment.date))
    )
    return list(session.exec(query))


def _release(session: Session, appointment: Appointment) -> None:
    session.execute(
        update(Slot)
        .where(col(Slot.id) == appointment.slot_id, col(Slot.booked) > 0)
        .values(booked=Slot.booked - 1)
    )


def _by_key(session: Session, key: str) -> Appointment | None:
    return session.exec(select(Appointment).where(Appointment.idempotency_key == key)).first()


def _same_owner(appointment: Appointment, resident_id: int) -> Appointment:
    if appointment.resident_id != resident_id:
        raise BookingError("forbidden", "请求无效。")
    return appointment


def _owned(session: Session, appointment_id: int, resident_id: int) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.resident_id != resident_id:
        raise BookingError("not_found", "没有找到您的这个预约。")
    return appointment
