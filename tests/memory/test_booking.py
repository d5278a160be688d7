"""Booking rules hold on SQLite and PostgreSQL alike, enforced by the database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tests.conftest import NOW
from tongban.memory.booking import BookingError, book, cancel, choose_slot, reschedule
from tongban.memory.models import Appointment, AppointmentStatus, Hall, Resident, ServiceItem, Slot
from tongban.memory.store import Store

ID_RENEWAL = "居民身份证换领"
CITY_HALL = "南宁市民中心"


def _setup(session: Session) -> tuple[Resident, ServiceItem, Hall]:
    resident = Resident(web_id="booking-test")
    session.add(resident)
    session.flush()
    item = session.exec(select(ServiceItem).where(ServiceItem.name == ID_RENEWAL)).one()
    hall = session.exec(select(Hall).where(Hall.name == CITY_HALL)).one()
    return resident, item, hall


def test_books_first_free_slot_of_the_requested_morning(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 25), period="上午", now=NOW)
        appointment = book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW)
        assert (slot.date, slot.period, slot.start) == (dt.date(2026, 11, 25), "上午", dt.time(9, 0))
        assert appointment.status == AppointmentStatus.CONFIRMED
        assert len(appointment.confirmation_code) == 8
        assert session.get(Slot, slot.id).booked == 1


def test_slot_never_exceeds_capacity(any_store: Store) -> None:
    with any_store.session() as session:
        _, item, hall = _setup(session)
        slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 25), period="上午", now=NOW)
        residents = [Resident(web_id=f"cap-{i}") for i in range(slot.capacity + 1)]
        session.add_all(residents)
        session.flush()
        for resident in residents[:-1]:
            book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW)
        with pytest.raises(BookingError) as refused:
            book(session, resident_id=residents[-1].id, item_id=item.id, slot_id=slot.id, now=NOW)
        assert refused.value.code == "full"
        assert refused.value.alternatives, "a full slot offers the nearest alternatives"
        assert session.get(Slot, slot.id).booked == slot.capacity


def test_capacity_is_a_database_constraint(any_store: Store) -> None:
    with pytest.raises(IntegrityError), any_store.session() as session:
        session.execute(update(Slot).where(col(Slot.id) == 1).values(booked=Slot.capacity + 1))


def test_one_active_appointment_per_item_per_day(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        day = dt.date(2026, 11, 25)
        morning = choose_slot(session, hall=hall, item=item, date=day, period="上午", now=NOW)
        afternoon = choose_slot(session, hall=hall, item=item, date=day, period="下午", now=NOW)
        book(session, resident_id=resident.id, item_id=item.id, slot_id=morning.id, now=NOW)
        with pytest.raises(BookingError) as refused:
            book(session, resident_id=resident.id, item_id=item.id, slot_id=afternoon.id, now=NOW)
        assert refused.value.code == "duplicate"
        assert session.get(Slot, afternoon.id).booked == 0, "a refused booking takes no place"


def test_same_idempotency_key_returns_first_result_and_books_nothing_more(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 26), now=NOW)
        first = book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW, idempotency_key="k-1")
        again = book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW, idempotency_key="k-1")
        assert again.id == first.id
        assert session.get(Slot, slot.id).booked == 1
        count = len(session.exec(select(Appointment).where(Appointment.resident_id == resident.id)).all())
        assert count == 1


def test_cancel_frees_capacity_and_is_idempotent(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 26), now=NOW)
        appointment = book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW)
        cancel(session, appointment_id=appointment.id, resident_id=resident.id)
        cancel(session, appointment_id=appointment.id, resident_id=resident.id)
        assert session.get(Slot, slot.id).booked == 0
        assert session.get(Appointment, appointment.id).status == AppointmentStatus.CANCELLED


def test_cannot_cancel_someone_elses_appointment(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        other = Resident(web_id="someone-else")
        session.add(other)
        session.flush()
        slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 26), now=NOW)
        appointment = book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW)
        with pytest.raises(BookingError) as refused:
            cancel(session, appointment_id=appointment.id, resident_id=other.id)
        assert refused.value.code == "not_found"
        assert session.get(Appointment, appointment.id).status == AppointmentStatus.CONFIRMED


def test_reschedule_is_one_atomic_step(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        old_slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 25), now=NOW)
        new_slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 26), period="下午", now=NOW)
        old = book(session, resident_id=resident.id, item_id=item.id, slot_id=old_slot.id, now=NOW)
        moved = reschedule(session, appointment_id=old.id, resident_id=resident.id, new_slot_id=new_slot.id, now=NOW)
        assert moved.replaces_id == old.id and moved.date == dt.date(2026, 11, 26)
        assert session.get(Slot, old_slot.id).booked == 0
        assert session.get(Slot, new_slot.id).booked == 1
        assert session.get(Appointment, old.id).status == AppointmentStatus.RESCHEDULED


def test_failed_reschedule_keeps_the_original(any_store: Store) -> None:
    with any_store.session() as session:
        resident, item, hall = _setup(session)
        old_slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 25), now=NOW)
        full_slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 26), now=NOW)
        full_slot.booked = full_slot.capacity
        session.add(full_slot)
        session.flush()
        old = book(session, resident_id=resident.id, item_id=item.id, slot_id=old_slot.id, now=NOW)
        with pytest.raises(BookingError):
            reschedule(session, appointment_id=old.id, resident_id=resident.id, new_slot_id=full_slot.id, now=NOW)
        assert session.get(Appointment, old.id).status == AppointmentStatus.CONFIRMED
        assert session.get(Slot, old_slot.id).booked == 1


@pytest.mark.parametrize(
    ("day", "code", "phrase"),
    [
        (dt.date(2026, 11, 28), "closed", "周末"),  # a Saturday
        (dt.date(2026, 11, 20), "past", "已经过去"),
    ],
)
def test_refuses_past_and_closed_days_with_a_reason(store: Store, day: dt.date, code: str, phrase: str) -> None:
    with store.session() as session:
        _, item, hall = _setup(session)
        with pytest.raises(BookingError) as refused:
            choose_slot(session, hall=hall, item=item, date=day, now=NOW)
        assert refused.value.code == code
        assert phrase in refused.value.reason
        if code == "closed":
            assert all(s.date > day for s in refused.value.alternatives)


def test_statutory_holiday_is_closed_and_makeup_day_is_open() -> None:
    from tongban.memory.calendar import day_status

    assert day_status(dt.date(2026, 10, 1)) .reason == "国庆节"
    assert not day_status(dt.date(2026, 10, 1)).open
    assert day_status(dt.date(2026, 10, 10)).open, "a Saturday made a working day (调休)"


def test_demo_slots_skip_closed_days(store: Store) -> None:
    from tongban.memory.calendar import is_open

    with store.session() as session:
        days = set(session.exec(select(Slot.date)).all())
    assert days, "the demo opens slots"
    assert all(is_open(d) for d in days)
    assert dt.date(2026, 11, 28) not in days


def test_refuses_times_outside_opening_hours(store: Store) -> None:
    with store.session() as session:
        _, item, hall = _setup(session)
        with pytest.raises(BookingError) as refused:
            choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 25), at=dt.time(13, 0), now=NOW)
        assert refused.value.code == "outside_hours"


def test_refuses_items_the_hall_does_not_handle(store: Store) -> None:
    with store.session() as session:
        resident, _, _ = _setup(session)
        passport = session.exec(select(ServiceItem).where(ServiceItem.name == "普通护照签发")).one()
        district = session.exec(select(Hall).where(Hall.name == "南宁市兴宁区政务服务中心")).one()
        with pytest.raises(BookingError) as refused:
            choose_slot(session, hall=district, item=passport, date=dt.date(2026, 11, 25), now=NOW)
        assert refused.value.code == "not_handled"


def test_every_booking_is_audited(store: Store) -> None:
    from tongban.memory.models import AuditLog

    with store.session(actor="resident:42") as session:
        resident, item, hall = _setup(session)
        slot = choose_slot(session, hall=hall, item=item, date=dt.date(2026, 11, 25), now=NOW)
        appointment = book(session, resident_id=resident.id, item_id=item.id, slot_id=slot.id, now=NOW)
        cancel(session, appointment_id=appointment.id, resident_id=resident.id)
    with store.session() as session:
        entries = session.exec(
            select(AuditLog).where(AuditLog.entity == "appointment", AuditLog.entity_id == str(appointment.id))
        ).all()
    assert [e.action for e in entries] == ["create", "update"]
    assert all(e.actor == "resident:42" for e in entries)
    assert entries[1].before["status"] == "confirmed" and entries[1].after["status"] == "cancelled"
