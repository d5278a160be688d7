"""The demo data tongban ships: Guangxi halls, the service catalog, life events, applications, slots.

The catalog (items, halls, applications, life events) is loaded only into an empty catalog, so
an operator's edits and imports are never overwritten at the next start; slots for the coming
weeks are added every time (only the missing ones), so `tongban init` can run any number of times.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from tongban.memory import audit
from tongban.memory.applications import add_application
from tongban.memory.calendar import is_open
from tongban.memory.catalog import link_halls, upsert_item
from tongban.memory.life_events import upsert_life_event
from tongban.memory.models import (
    Hall,
    HallBase,
    LifeEventCreate,
    Period,
    ServiceItem,
    ServiceItemCreate,
    Slot,
)
from tongban.memory.pii import Vault

SLOT_MINUTES = 30


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def catalog_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in _read("catalog.jsonl").splitlines() if line.strip()]


def hall_rows() -> list[dict[str, Any]]:
    return json.loads(_read("halls.json"))


def application_rows() -> list[dict[str, Any]]:
    return json.loads(_read("applications.json"))


def life_event_rows() -> list[dict[str, Any]]:
    return json.loads(_read("life_events.json"))


def load_demo(
    session: Session, vault: Vault, *, today: dt.date, weeks: int = 3, capacity: int = 4
) -> dict[str, int]:
    if session.exec(select(ServiceItem.id).limit(1)).first() is not None:
        halls = list(session.exec(select(Hall)))  # a catalog is there: keep it, only open slots
        slots = open_slots(session, halls, today=today, weeks=weeks, capacity=capacity)
        return {"items": 0, "halls": 0, "applications": 0, "life_events": 0, "slots": slots, "kept": 1}
    session.info["audit"] = False  # one summary record instead of thousands of rows
    items = [upsert_item(session, ServiceItemCreate.model_validate(r)) for r in catalog_rows()]
    by_name = {i.name: i for i in items}
    halls: list[Hall] = []
    for row in hall_rows():
        hall = session.exec(select(Hall).where(Hall.code == row["code"])).first()
        values = HallBase.model_validate({k: v for k, v in row.items() if k != "items"}).model_dump()
        if hall is None:
            hall = Hall.model_validate(values)
        else:
            for key, value in values.items():
                setattr(hall, key, value)
        session.add(hall)
        session.flush()
        handled = items if row["items"] == "all" else [by_name[name] for name in row["items"]]
        link_halls(session, hall, handled)
        halls.append(hall)
    for row in application_rows():
        add_application(session, vault, row)
    events = [upsert_life_event(session, LifeEventCreate.model_validate(r)) for r in life_event_rows()]
    slots = open_slots(session, halls, today=today, weeks=weeks, capacity=capacity)
    session.info["audit"] = True
    summary = {"items": len(items), "halls": len(halls), "applications": len(application_rows()),
               "life_events": len(events), "slots": slots}
    audit.record(session, action="load_demo", entity="catalog", after=summary)
    return summary


def open_slots(
    session: Session, halls: list[Hall], *, today: dt.date, weeks: int, capacity: int
) -> int:
    """Add the missing half-hour slots for every open day from today on."""
    end = today + dt.timedelta(weeks=weeks)
    existing = {
        (s.hall_id, s.date, s.start)
        for s in session.exec(select(Slot).where(col(Slot.date) >= today, col(Slot.date) < end))
    }
    rows: list[dict[str, Any]] = []
    day = today
    while day < end:
        if is_open(day):
            for hall in halls:
                for start, close, period in (
                    (hall.am_open, hall.am_close, Period.MORNING),
                    (hall.pm_open, hall.pm_close, Period.AFTERNOON),
                ):
                    for begin, finish in _windows(day, start, close):
                        if (hall.id, day, begin) not in existing:
                            rows.append(
                                {"hall_id": hall.id, "date": day, "start": begin, "end": finish,
                                 "period": period.value, "window": "综合窗口",
                                 "capacity": capacity, "booked": 0}
                            )
        day += dt.timedelta(days=1)
    if rows:
        session.execute(insert(Slot), rows)
    return len(rows)


def _windows(day: dt.date, start: dt.time, close: dt.time) -> list[tuple[dt.time, dt.time]]:
    out = []
    cursor = dt.datetime.combine(day, start)
    stop = dt.datetime.combine(day, close)
    while cursor + dt.timedelta(minutes=SLOT_MINUTES) <= stop:
        out.append((cursor.time(), (cursor + dt.timedelta(minutes=SLOT_MINUTES)).time()))
        cursor += dt.timedelta(minutes=SLOT_MINUTES)
    return out


def item_by_name(session: Session, name: str) -> ServiceItem | None:
    return session.exec(select(ServiceItem).where(ServiceItem.name == name)).first()
