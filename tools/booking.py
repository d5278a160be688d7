"""Booking tools: find a slot, book, cancel, list — rules from `memory.booking`, plus the gate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, select

from tongban.memory.booking import (
    BookingError,
    active_appointments,
    book,
    cancel,
    choose_slot,
    reschedule,
)
from tongban.memory.clock import WEEKDAYS
from tongban.memory.models import Appointment, Hall, ServiceItem, Slot
from tongban.tools.confirmation import Confirmation, NeedsConfirmation


@dataclass
class SlotOffer:
    slot_id: int
    item_code: str
    item: str
    hall: str
    date: str  # YYYY-MM-DD
    period: str
    start: str
    end: str

    def describe(self) -> str:
        day = dt.date.fromisoformat(self.date)
        return f"{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）{self.period}{self.start}-{self.end}，{self.hall}"

    def fields(self) -> dict[str, str]:
        """What a confirmation offers, as the fields a repair can move."""
        return {"hall": self.hall, "date": self.date, "period": self.period, "start": self.start, "end": self.end}


@dataclass
class AppointmentView:
    id: int
    item: str
    hall: str
    date: str
    period: str
    start: str
    end: str
    confirmation_code: str
    status: str

    def describe(self) -> str:
        day = dt.date.fromisoformat(self.date)
        return f"{self.item}：{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）{self.period}{self.start}-{self.end}，{self.hall}"


def _offer(slot: Slot, item: ServiceItem, hall: Hall) -> SlotOffer:
    return SlotOffer(
        slot_id=slot.id or 0, item_code=item.code, item=item.name, hall=hall.name,
        date=slot.date.isoformat(), period=slot.period,
        start=f"{slot.start:%H:%M}", end=f"{slot.end:%H:%M}",
    )


def find_slot(
    session: Session,
    *,
    item_code: str,
    hall_name: str,
    date: dt.date,
    now: dt.datetime,
    period: str | None = None,
    at: dt.time | None = None,
) -> SlotOffer:
    """The slot to propose; `BookingError` (with alternatives as offers) when there is none."""
    item = _item(session, item_code)
    hall = _hall(session, hall_name)
    try:
        slot = choose_slot(session, hall=hall, item=item, date=date, period=period, at=at, now=now)
    except BookingError as refusal:
        refusal.alternatives = [_offer(s, item, hall) for s in refusal.alternatives]  # type: ignore[misc]
        raise
    return _offer(slot, item, hall)


def offer_for_slot(session: Session, *, slot_id: int, item_code: str, now: dt.datetime) -> SlotOffer:
    """The offer for a slot already shown to the resident, if it can still be booked."""
    slot = session.get(Slot, slot_id)
    item = _item(session, item_code)
    if slot is None:
        raise BookingError("not_found", "没有找到这个预约时段。")
    hall = session.get(Hall, slot.hall_id)
    assert hall is not None
    if slot.booked >= slot.capacity:
        return find_slot(session, item_code=item_code, hall_name=hall.name, date=slot.date,
                         period=slot.period, now=now)
    return _offer(slot, item, hall)


def book_appointment(
    session: Session,
    *,
    resident_id: int,
    offer: SlotOffer,
    now: dt.datetime,
    confirmation: Confirmation | None,
    idempotency_key: str,
) -> AppointmentView:
    args = {"slot_id": offer.slot_id, "item_code": offer.item_code}
    if confirmation is None or not confirmation.covers("book", args):
        raise NeedsConfirmation("book", args, f"预约{offer.item}：{offer.describe()}", slot=offer.fields())
    item = _item(session, offer.item_code)
    appointment = book(
        session, resident_id=resident_id, item_id=item.id or 0, slot_id=offer.slot_id,
        now=now, idempotency_key=idempotency_key,
    )
    return view(session, appointment)


def cancel_appointment(
    session: Session,
    *,
    resident_id: int,
    appointment_id: int,
    confirmation: Confirmation | None,
) -> AppointmentView:
    current = session.get(Appointment, appointment_id)
    if current is None or current.resident_id != resident_id:
        raise BookingError("not_found", "没有找到您的这个预约。")
    args = {"appointment_id": appointment_id}
    if confirmation is None or not confirmation.covers("cancel", args):
        raise NeedsConfirmation("cancel", args, f"取消预约 {view(session, current).describe()}")
    return view(session, cancel(session, appointment_id=appointment_id, resident_id=resident_id))


def reschedule_appointment(
    session: Session,
    *,
    resident_id: int,
    appointment_id: int,
    offer: SlotOffer,
    now: dt.datetime,
    confirmation: Confirmation | None,
    idempotency_key: str,
) -> AppointmentView:
    """Move the resident's own appointment to the offered slot: old and new in one transaction,
    and only once the resident confirmed exactly this move."""
    current = session.get(Appointment, appointment_id)
    if current is None or current.resident_id != resident_id:
        raise BookingError("not_found", "没有找到您的这个预约。")
    if offer.slot_id == current.slot_id:
        raise BookingError("duplicate", "您的预约已经是这个时间了。")
    args = {"appointment_id": appointment_id, "slot_id": offer.slot_id}
    if confirmation is None or not confirmation.covers("reschedule", args):
        old = view(session, current)
        raise NeedsConfirmation("reschedule", args, f"把预约 {old.describe()} 改到 {offer.describe()}",
                                offered=offer.describe(), slot=offer.fields())
    moved = reschedule(session, appointment_id=appointment_id, resident_id=resident_id,
                       new_slot_id=offer.slot_id, now=now, idempotency_key=idempotency_key)
    return view(session, moved)


def my_appointments(session: Session, *, resident_id: int, today: dt.date) -> list[AppointmentView]:
    return [view(session, a) for a in active_appointments(session, resident_id=resident_id, today=today)]


def view(session: Session, appointment: Appointment) -> AppointmentView:
    slot = session.get(Slot, appointment.slot_id)
    item = session.get(ServiceItem, appointment.item_id)
    hall = session.get(Hall, appointment.hall_id)
    assert slot and item and hall
    return AppointmentView(
        id=appointment.id or 0, item=item.name, hall=hall.name, date=slot.date.isoformat(),
        period=slot.period, start=f"{slot.start:%H:%M}", end=f"{slot.end:%H:%M}",
        confirmation_code=appointment.confirmation_code, status=str(appointment.status),
    )


def _item(session: Session, code: str) -> ServiceItem:
    item = session.exec(select(ServiceItem).where(ServiceItem.code == code)).first()
    if item is None:
        raise BookingError("not_found", "没有找到这个事项。")
    return item


def _hall(session: Session, name: str) -> Hall:
    hall = session.exec(select(Hall).where(Hall.name == name)).first()
    if hall is None:
        raise BookingError("not_found", f"没有找到“{name}”这个办事大厅。")
    return hall
