"""Life events (高效办成一件事): loading and importing the data that links items into one 一件事.

Rows are upserted by code and every step must name an item of the catalog, so a typo in a
province's file is reported by line instead of silently never being recommended.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, select

from tongban.memory import audit
from tongban.memory.catalog import ImportReport
from tongban.memory.models import LifeEvent, LifeEventCreate, ServiceItem, utcnow


def upsert_life_event(session: Session, event_in: LifeEventCreate) -> LifeEvent:
    event = session.exec(select(LifeEvent).where(LifeEvent.code == event_in.code)).first()
    values = event_in.model_dump()
    if event is None:
        event = LifeEvent.model_validate(values)
    elif any(getattr(event, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(event, key, value)
        event.updated_at = utcnow()
    session.add(event)
    session.flush()
    return event


def import_life_events(session: Session, rows: Iterable[tuple[int, dict[str, Any] | str]]) -> ImportReport:
    """Upsert valid life-event rows by code; rows naming unknown items are reported and skipped."""
    report = ImportReport()
    known = set(session.exec(select(ServiceItem.name)))
    for number, row in rows:
        if isinstance(row, str):
            report.errors.append((number, row))
            continue
        try:
            event_in = LifeEventCreate.model_validate(row)
        except ValidationError as exc:
            report.errors.append((number, "；".join(str(e["msg"]) for e in exc.errors())))
            continue
        unknown = [name for group in event_in.steps for name in group if name not in known]
        if unknown:
            report.errors.append((number, f"未知事项：{'、'.join(unknown)}"))
            continue
        try:
            with session.begin_nested():
                upsert_life_event(session, event_in)
        except Exception as exc:  # a constraint, e.g. a name used by another code
            report.errors.append((number, f"无法写入：{exc.__class__.__name__}"))
            continue
        report.imported += 1
    audit.record(session, action="import", entity="life_event",
                 after={"imported": report.imported, "errors": len(report.errors)})
    return report
