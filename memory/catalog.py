"""Catalog import and export: JSON Lines and CSV, validated row by row.

Real deployments load the province's official catalog, so a bad row is reported with its
line number and skipped; rows that validate are upserted by item code, and nothing already
in the database is removed by an import.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, select

from tongban.memory import audit
from tongban.memory.applications import ApplicationIn, UnknownReference, add_application
from tongban.memory.models import (
    Hall,
    HallItem,
    ServiceItem,
    ServiceItemBase,
    ServiceItemCreate,
    utcnow,
)
from tongban.memory.pii import InvalidIdentifier, Vault

# list-valued columns, written to CSV as JSON (nested) or joined with | (flat)
_NESTED = ("materials", "faqs", "form_fields")
_FLAT = ("legal_basis", "steps", "online", "keywords", "halls")


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line number, row) — or (line number, error text) for unreadable rows."""
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        yield from _csv_rows(text)
    elif suffix == ".json" and text.lstrip().startswith("["):  # a JSON array: rows numbered from 1
        rows = json.loads(text)
        yield from ((n, r if isinstance(r, dict) else "每项应是一个 JSON 对象") for n, r in enumerate(rows, start=1))
    elif suffix in (".jsonl", ".ndjson", ".json"):
        yield from _jsonl_rows(text)
    else:
        raise ValueError(f"unsupported catalog format {suffix!r}: use .jsonl or .csv")


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"JSON 格式错误：{exc.msg}（第 {exc.colno} 列）"
            continue
        yield number, row if isinstance(row, dict) else "每行应是一个 JSON 对象"


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        number = reader.line_num
        if None in row:
            yield number, "列数多于表头"
            continue
        parsed: dict[str, Any] = {}
        try:
            for key, value in row.items():
                if key in _NESTED:
                    parsed[key] = json.loads(value) if value else []
                elif key in _FLAT:
                    parsed[key] = [p for p in (value or "").split("|") if p.strip()]
                elif key in ("mail", "appointment_required"):
                    parsed[key] = (value or "").strip().lower() in ("1", "true", "是", "yes")
                elif value == "" and key in ("statutory_limit_days", "promised_limit_days"):
                    parsed[key] = None
                else:
                    parsed[key] = value
        except json.JSONDecodeError as exc:
            yield number, f"{key} 列的 JSON 格式错误：{exc.msg}"
            continue
        yield number, parsed


def _describe(exc: ValidationError) -> str:
    return "；".join(
        f"{'.'.join(str(p) for p in e['loc']) or '行'}: {e['msg']}" for e in exc.errors()
    )


def import_items(session: Session, rows: Iterable[tuple[int, dict[str, Any] | str]]) -> ImportReport:
    """Upsert valid item rows by code; each row in its own savepoint."""
    report = ImportReport()
    halls = {h.name: h for h in session.exec(select(Hall))}
    for number, row in rows:
        if isinstance(row, str):
            report.errors.append((number, row))
            continue
        hall_names = row.pop("halls", None)
        try:
            item_in = ServiceItemCreate.model_validate(row)
        except ValidationError as exc:
            report.errors.append((number, _describe(exc)))
            continue
        unknown = [h for h in hall_names or [] if h not in halls]
        if unknown:
            report.errors.append((number, f"未知大厅：{'、'.join(unknown)}"))
            continue
        try:
            with session.begin_nested():
                item = upsert_item(session, item_in)
                if hall_names:
                    for name in hall_names:
                        link_hall(session, halls[name], item)
        except Exception as exc:  # a database constraint, e.g. a name used by another code
            report.errors.append((number, f"无法写入：{exc.__class__.__name__}"))
            continue
        report.imported += 1
    audit.record(
        session,
        action="import",
        entity="service_item",
        after={"imported": report.imported, "errors": len(report.errors)},
    )
    return report


def import_applications(
    session: Session, vault: Vault, rows: Iterable[tuple[int, dict[str, Any] | str]]
) -> ImportReport:
    report = ImportReport()
    for number, row in rows:
        if isinstance(row, str):
            report.errors.append((number, row))
            continue
        try:
            app_in = ApplicationIn.model_validate(row)
            with session.begin_nested():
                add_application(session, vault, app_in)
        except ValidationError as exc:
            report.errors.append((number, _describe(exc)))
            continue
        except (UnknownReference, InvalidIdentifier) as exc:
            report.errors.append((number, str(exc)))
            continue
        report.imported += 1
    return report


def upsert_item(session: Session, item_in: ServiceItemBase) -> ServiceItem:
    item = session.exec(select(ServiceItem).where(ServiceItem.code == item_in.code)).first()
    values = item_in.model_dump()
    if item is None:
        item = ServiceItem.model_validate(values)
    else:
        for key, value in values.items():
            if getattr(item, key) != value:
                setattr(item, key, value)
        item.updated_at = utcnow()
    session.add(item)
    session.flush()
    return item


def link_hall(session: Session, hall: Hall, item: ServiceItem) -> None:
    link_halls(session, hall, [item])


def link_halls(session: Session, hall: Hall, items: Iterable[ServiceItem]) -> None:
    """`hall` handles each of `items`: the links it lacks are added with one query and one
    flush (the demo's eight halls link 388 items on a first start)."""
    linked = set(session.exec(select(HallItem.item_id).where(HallItem.hall_id == hall.id)))
    for item in items:
        if item.id not in linked:
            session.add(HallItem(hall_id=hall.id, item_id=item.id))
            linked.add(item.id)
    session.flush()


def export_items(session: Session, path: Path) -> int:
    items = list(session.exec(select(ServiceItem).order_by(ServiceItem.code)))
    halls_of: dict[int, list[str]] = {}
    for link, hall in session.exec(select(HallItem, Hall).where(HallItem.hall_id == Hall.id)):
        halls_of.setdefault(link.item_id, []).append(hall.name)
    rows = [
        {**ServiceItemBase.model_validate(item).model_dump(), "halls": sorted(halls_of.get(item.id, []))}
        for item in items
    ]
    if path.suffix.lower() == ".csv":
        _write_csv(rows, path)
    else:
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    return len(rows)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = list(rows[0]) if rows else list(ServiceItemBase.model_fields) + ["halls"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            out = dict(row)
            for key in _NESTED:
                out[key] = json.dumps(out[key], ensure_ascii=False)
            for key in _FLAT:
                out[key] = "|".join(out[key])
            writer.writerow(out)
