"""The question log supervisors read: hot topics per week and the questions tongban could not place.

Only unplaced questions keep their text, masked; the resident is a keyed blind index, so the
log counts people without naming them. A supervisor can attach a phrase from it to an item as
a keyword, and staff can correct a handoff's question to the item it was about; the retrieval
index and the agent's item naming pick either up at once. Every learned phrase is listed with
who added it, when and from where (the audit log keeps that), and can be removed again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from tongban.memory import audit
from tongban.memory.clock import SHANGHAI
from tongban.memory.models import AuditLog, QuestionKind, QuestionLog, ServiceItem, utcnow
from tongban.memory.pii import Vault, mask_text

UNPLACED = (QuestionKind.LOW_CONFIDENCE, QuestionKind.REPHRASED, QuestionKind.ASKED_PERSON, QuestionKind.KB_MISS)
KEPT_TEXT_NOT = (QuestionKind.ANSWERED, QuestionKind.KB_ANSWERED)  # placed questions keep no text


def record(
    session: Session, vault: Vault, *, kind: str, resident_id: int, channel: str, text: str | None = None,
    item_code: str | None = None, at: dt.datetime | None = None, kb_key: str | None = None,
) -> None:
    """One line of the log, in the caller's transaction (one statement: every lookup writes one)."""
    session.connection().execute(_INSERT, {
        "kind": str(kind), "item_code": item_code, "channel": channel, "at": at or utcnow(), "kb_key": kb_key,
        "resident_key": vault.blind_index("question-asker", str(resident_id)) or "",
        "text_masked": mask_text(text)[:500] if text and kind not in KEPT_TEXT_NOT else None,
    })


_INSERT = insert(QuestionLog.__table__)  # type: ignore[attr-defined]


def week_of(day: dt.date) -> dt.date:
    """The Monday a week is named by."""
    return day - dt.timedelta(days=day.weekday())


def weekly_report(session: Session, monday: dt.date, *, top: int = 10) -> dict[str, Any]:
    """One week: the most asked items, and the unplaced questions grouped by their masked text."""
    start = dt.datetime.combine(monday, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)  # Beijing midnight
    end = start + dt.timedelta(days=7)
    rows = session.exec(select(QuestionLog).where(col(QuestionLog.at) >= start, col(QuestionLog.at) < end)).all()
    names = dict(session.exec(select(ServiceItem.code, ServiceItem.name)).all())
    topics = Counter(r.item_code for r in rows if r.item_code and r.kind == QuestionKind.ANSWERED)
    unplaced: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.kind not in UNPLACED or not r.text_masked:
            continue
        entry = unplaced.setdefault(r.text_masked, {"text": r.text_masked, "count": 0, "kinds": set(),
                                                    "askers": set(), "guess": None})
        entry["count"] += 1
        entry["kinds"].add(r.kind)
        entry["askers"].add(r.resident_key)
        entry["guess"] = entry["guess"] or (names.get(r.item_code) if r.item_code else None)
    questions = sorted(unplaced.values(), key=lambda e: (-e["count"], e["text"]))[: top * 5]
    answered = Counter(r.kb_key for r in rows if r.kb_key)
    return {
        "knowledge": {"answered": sum(answered.values()), "missed": sum(r.kind == QuestionKind.KB_MISS for r in rows),
                      "entries": [{"key": k, "count": n} for k, n in answered.most_common(top)]},
        "week": monday.isoformat(),
        "asked": len(rows),
        "topics": [{"code": c, "name": names.get(c, c), "count": n} for c, n in topics.most_common(top)],
        "unplaced": [{"text": e["text"], "count": e["count"], "kinds": sorted(e["kinds"]),
                      "askers": len(e["askers"]), "guess": e["guess"]} for e in questions],
    }


class UnknownItem(LookupError):
    pass


def add_keyword(
    session: Session, item_code: str, phrase: str, *, source: str = "question_log"
) -> ServiceItem:
    """Attach a resident's phrase to an item; `updated_at` moves so every index sees the edit.

    `source` says where it was learned (the question log, or `handoff:<id>` for a staff
    correction on a handoff card); the audit entry keeps it with who and when (`learned`)."""
    phrase = mask_text(" ".join(phrase.split()))[:50]
    if len(phrase) < 2:
        raise ValueError("关键词至少两个字")
    if "*" in phrase:
        raise ValueError("关键词不能含个人信息")
    item = session.exec(select(ServiceItem).where(ServiceItem.code == item_code)).first()
    if item is None:
        raise UnknownItem(item_code)
    if phrase not in item.keywords:
        before = list(item.keywords)
        item.keywords = [*item.keywords, phrase]
        item.updated_at = utcnow()
        session.add(item)
        session.flush()
        audit.record(session, action="add_keyword", entity="service_item", entity_id=item_code,
                     after={"keyword": phrase, "count": len(before) + 1, "source": source})
    return item


class NotLearned(LookupError):
    """The phrase is not a learned keyword of that item (catalog keywords are edited elsewhere)."""


def learned(session: Session) -> list[dict[str, Any]]:
    """Every phrase the learning loop attached that the item still has: what, who, when, where
    from. Newest first. Keywords that came with the catalog are not listed."""
    entries = session.exec(
        select(AuditLog).where(AuditLog.entity == "service_item",
                               col(AuditLog.action).in_(("add_keyword", "remove_keyword")))
        .order_by(col(AuditLog.id))
    ).all()
    current: dict[tuple[str, str], AuditLog] = {}
    for entry in entries:
        phrase = str((entry.after or entry.before or {}).get("keyword", ""))
        if entry.action == "add_keyword":
            current[(entry.entity_id, phrase)] = entry
        else:
            current.pop((entry.entity_id, phrase), None)
    items = {i.code: i for i in session.exec(
        select(ServiceItem).where(col(ServiceItem.code).in_({code for code, _ in current})))}
    out = []
    for (code, phrase), entry in current.items():
        item = items.get(code)
        if item is None or phrase not in item.keywords:
            continue
        out.append({"item_code": code, "item_name": item.name, "phrase": phrase, "by": entry.actor,
                    "at": entry.at.isoformat(), "source": (entry.after or {}).get("source", "question_log")})
    return sorted(out, key=lambda e: e["at"], reverse=True)


def remove_keyword(session: Session, item_code: str, phrase: str) -> ServiceItem:
    """Take a learned phrase off its item again; the index follows as for any catalog edit."""
    if not any(e["item_code"] == item_code and e["phrase"] == phrase for e in learned(session)):
        raise NotLearned(f"{item_code}: {phrase}")
    item = session.exec(select(ServiceItem).where(ServiceItem.code == item_code)).one()
    item.keywords = [k for k in item.keywords if k != phrase]
    item.updated_at = utcnow()
    session.add(item)
    session.flush()
    audit.record(session, action="remove_keyword", entity="service_item", entity_id=item_code,
                 before={"keyword": phrase})
    return item
