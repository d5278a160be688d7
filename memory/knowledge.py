"""The knowledge base in the database: imported files and the citable entries they hold.

A file is a source, known by its name. Re-importing it upserts its entries by key and leaves
unchanged ones untouched (same `content_hash`, same row, so their embeddings are reused);
entries the new version no longer holds go, unless the file had bad rows, in which case
nothing already stored is removed. Keys are unique across sources: a reply cites one entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from tongban.memory import audit
from tongban.memory.models import KbEntry, KbSource, utcnow

KEY_LIMIT = 128


@dataclass(frozen=True)
class EntryIn:
    """One entry as a file gives it, before it is stored."""

    key: str
    text: str
    title: str = ""
    department: str = ""
    origin: str = ""
    keywords: str = ""
    locator: str = ""

    def content_hash(self) -> str:
        raw = "\x1f".join((self.title, self.text, self.department, self.origin, self.keywords, self.locator))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class KbImport:
    """What one import did; `errors` are (line, page or row number, message)."""

    source: str
    kind: str
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.added + self.changed + self.unchanged


def save_source(
    session: Session, *, name: str, kind: str, sha256: str, entries: list[EntryIn],
    errors: list[tuple[int, str]] | None = None, lines: list[int] | None = None,
) -> KbImport:
    """Store one parsed file. `lines[i]` is where `entries[i]` came from, for error reports."""
    report = KbImport(source=name, kind=kind, errors=list(errors or []))
    source = session.exec(select(KbSource).where(KbSource.name == name)).first()
    if source is None:
        source = KbSource(name=name, kind=kind, sha256=sha256)
        session.add(source)
        session.flush()
    assert source.id is not None
    existing = {e.key: e for e in session.exec(select(KbEntry).where(KbEntry.source_id == source.id))}
    taken = _keys_elsewhere(session, source.id, [e.key for e in entries])
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        line = lines[index] if lines else index + 1
        problem = _problem(entry, taken, seen)
        if problem:
            report.errors.append((line, problem))
            continue
        seen[entry.key] = line
        digest = entry.content_hash()
        row = existing.get(entry.key)
        if row is not None and row.content_hash == digest:
            report.unchanged += 1
            continue
        if row is None:
            row = KbEntry(source_id=source.id, key=entry.key, content_hash=digest)
            report.added += 1
        else:
            report.changed += 1
        row.title, row.text, row.department = entry.title[:500], entry.text, entry.department[:100]
        row.origin, row.keywords = entry.origin[:500], entry.keywords[:500]
        row.locator, row.content_hash = entry.locator[:64], digest
        row.updated_at = utcnow()
        session.add(row)
    if not report.errors:  # a clean file is the whole truth about its source
        for key, row in existing.items():
            if key not in seen:
                session.delete(row)
                report.removed += 1
    session.flush()
    source.kind, source.sha256, source.imported_at = kind, sha256, utcnow()
    source.entries = session.exec(
        select(func.count(col(KbEntry.id))).where(KbEntry.source_id == source.id)
    ).one()
    session.add(source)
    session.flush()
    audit.record(session, action="kb_import", entity="kb_source", entity_id=name,
                 after={"added": report.added, "changed": report.changed, "removed": report.removed,
                        "errors": len(report.errors)})
    return report


def _problem(entry: EntryIn, taken: dict[str, str], seen: dict[str, int]) -> str | None:
    if not entry.key.strip():
        return "缺少编号（id）"
    if len(entry.key) > KEY_LIMIT:
        return f"编号过长（最多 {KEY_LIMIT} 个字符）"
    if not entry.text.strip():
        return "缺少答案或正文"
    if entry.key in seen:
        return f"编号 {entry.key} 与第 {seen[entry.key]} 行重复"
    if entry.key in taken:
        return f"编号 {entry.key} 已被文件 {taken[entry.key]} 使用"
    return None


def _keys_elsewhere(session: Session, source_id: int, keys: list[str]) -> dict[str, str]:
    """Keys among `keys` that entries of other sources already hold, with their file name."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        rows = session.exec(
            select(KbEntry.key, KbSource.name)
            .join(KbSource, col(KbSource.id) == KbEntry.source_id)
            .where(col(KbEntry.key).in_(keys[start : start + 500]), KbEntry.source_id != source_id)
        ).all()
        found.update(dict(rows))
    return found


def source_unchanged(session: Session, name: str, sha256: str) -> bool:
    source = session.exec(select(KbSource).where(KbSource.name == name)).first()
    return source is not None and source.sha256 == sha256


def list_sources(session: Session) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "kind": s.kind, "entries": s.entries, "sha256": s.sha256,
         "imported_at": s.imported_at.isoformat()}
        for s in session.exec(select(KbSource).order_by(col(KbSource.name)))
    ]


def remove_source(session: Session, name: str) -> int:
    """Delete a file's entries and the file; returns how many entries went (-1: no such file)."""
    source = session.exec(select(KbSource).where(KbSource.name == name)).first()
    if source is None:
        return -1
    rows = list(session.exec(select(KbEntry).where(KbEntry.source_id == source.id)))
    for row in rows:
        session.delete(row)
    session.flush()
    session.delete(source)
    session.flush()
    audit.record(session, action="kb_remove", entity="kb_source", entity_id=name, after={"entries": len(rows)})
    return len(rows)


def entries(session: Session) -> list[tuple[KbEntry, str]]:
    """Every entry with its file's name, in a stable order."""
    query = (
        select(KbEntry, KbSource.name)
        .join(KbSource, col(KbSource.id) == KbEntry.source_id)
        .order_by(col(KbEntry.id))
    )
    return [(entry, name) for entry, name in session.exec(query)]


def fingerprint(session: Session) -> tuple[Any, ...]:
    """Changes when an entry is added, edited or removed (by any process)."""
    row = session.exec(
        select(func.count(col(KbEntry.id)), func.max(KbEntry.updated_at), func.sum(KbEntry.id))
    ).one()
    return tuple(_plain(v) for v in row)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def entry(session: Session, key: str) -> tuple[KbEntry, str] | None:
    """One entry by the key replies cite, with its file's name."""
    row = session.exec(
        select(KbEntry, KbSource.name).join(KbSource, col(KbSource.id) == KbEntry.source_id).where(KbEntry.key == key)
    ).first()
    return (row[0], row[1]) if row else None
