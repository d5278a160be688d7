"""What repair tests look at: the confirmed appointments, and whether a reply asks to confirm."""

from __future__ import annotations

from sqlmodel import select

from tongban.memory.models import Appointment, AppointmentStatus, ServiceItem, Slot
from tongban.memory.store import Store


def confirmed(store: Store) -> list[dict[str, str]]:
    """The confirmed appointments: item, hall, day, half-day and start time."""
    with store.session() as session:
        rows = session.exec(select(Appointment, ServiceItem, Slot)
                            .where(Appointment.status == AppointmentStatus.CONFIRMED)
                            .where(Appointment.item_id == ServiceItem.id, Appointment.slot_id == Slot.id)).all()
        return [{"item": item.name, "date": slot.date.isoformat(), "period": slot.period,
                 "start": f"{slot.start:%H:%M}", "hall_id": str(a.hall_id)} for a, item, slot in rows]


def asks_to_confirm(text: str) -> bool:
    return "请确认" in text or "还没有确认" in text or "还没办完" in text


BOOK = "帮我约后天上午去南宁市民中心办社保卡"  # 2026-11-26, a Thursday
