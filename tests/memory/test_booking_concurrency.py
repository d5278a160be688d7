"""1000 booking attempts from 20 concurrent workers over 50 slots with random capacities."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import col, select

from tests.conftest import NOW
from tongban.memory.booking import BookingError, book
from tongban.memory.models import Appointment, AppointmentStatus, Hall, Resident, ServiceItem, Slot
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # replicas on PostgreSQL

ATTEMPTS = 1000
WORKERS = 20


def _prepare(store: Store, rng: random.Random) -> tuple[list[int], list[int], list[int]]:
    with store.session() as session:
        hall = session.exec(select(Hall).where(Hall.name == "柳州市政务服务中心")).one()
        slots = session.exec(
            select(Slot).where(Slot.hall_id == hall.id, col(Slot.date) > NOW.date()).order_by(Slot.id).limit(50)
        ).all()
        for slot in slots:
            slot.capacity = rng.randint(1, 8)
            session.add(slot)
        items = session.exec(select(ServiceItem.id).order_by(ServiceItem.id).limit(3)).all()
        residents = [Resident(web_id=f"load-{i}") for i in range(150)]
        session.add_all(residents)
        session.flush()
        return [s.id for s in slots], list(items), [r.id for r in residents]


def _run(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    slot_ids, item_ids, resident_ids = _prepare(store, rng)
    # every request has an idempotency key; a fifth of them are retries of an earlier one
    requests: list[tuple[str, int, int, int]] = []
    for n in range(ATTEMPTS):
        if requests and rng.random() < 0.2:
            requests.append(rng.choice(requests))
        else:
            requests.append((f"req-{n}", rng.choice(resident_ids), rng.choice(item_ids), rng.choice(slot_ids)))

    def attempt(request: tuple[str, int, int, int]) -> tuple[str, int | None, str | None]:
        key, resident_id, item_id, slot_id = request
        try:
            with store.session(actor=f"resident:{resident_id}") as session:
                appointment = book(
                    session, resident_id=resident_id, item_id=item_id, slot_id=slot_id, now=NOW, idempotency_key=key
                )
                return key, appointment.id, None
        except BookingError as refusal:
            return key, None, f"{refusal.code}: {refusal.reason}"

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(attempt, requests))

    accepted: dict[str, set[int]] = {}
    refusals: list[str] = []
    for key, appointment_id, reason in results:
        if appointment_id is None:
            assert reason and reason.split(":")[0] in {"full", "duplicate"}, reason
            refusals.append(reason)
        else:
            accepted.setdefault(key, set()).add(appointment_id)
    assert accepted and refusals, "the load must both fill slots and be refused"

    with store.session() as session:
        appointments = session.exec(
            select(Appointment).where(col(Appointment.slot_id).in_(slot_ids))
        ).all()
        slots = {s.id: s for s in session.exec(select(Slot).where(col(Slot.id).in_(slot_ids)))}
    by_key = {a.idempotency_key: a for a in appointments}
    per_slot = Counter(a.slot_id for a in appointments if a.status == AppointmentStatus.CONFIRMED)
    for slot_id, slot in slots.items():
        assert slot.booked <= slot.capacity
        assert per_slot[slot_id] == slot.booked, "the counter matches the appointments"
    for key, ids in accepted.items():
        assert len(ids) == 1, f"retries of {key} returned different appointments"
        assert by_key[key].id in ids
    assert len(appointments) == len(accepted), "every appointment belongs to exactly one accepted request"
    per_day = Counter((a.resident_id, a.item_id, a.date) for a in appointments)
    assert max(per_day.values()) == 1


def test_concurrent_bookings_on_postgresql(pg_store: Store) -> None:
    _run(pg_store, seed=7)


def test_concurrent_bookings_on_sqlite(store: Store) -> None:
    _run(store, seed=11)
