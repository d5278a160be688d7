"""The audit log: every ORM write is recorded with its actor, before and after.

Recording happens in a flush hook rather than in each repository function, so a new write
path cannot forget it. Ciphertext, blind-index and hash columns are never copied into the log.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from tongban.memory.models import (
    AuditLog,
    InboundMessage,
    ProgressAttempt,
    QuestionLog,
    SeenNonce,
    Slot,
    TranscriptMessage,
    utcnow,
)

# high-volume or self-describing rows that are not audited one by one (a transcript message is
# itself a dated record of who said what; auditing it doubled the inserts of every turn; an
# inbound message records when it came and how it was answered; the question log is itself a
# log) — except what staff write: every staff action is audited as theirs
_SKIP = (AuditLog, Slot, ProgressAttempt, SeenNonce, InboundMessage, QuestionLog)
_SKIP_UNLESS_STAFF = (TranscriptMessage,)
_REDACTED = "[redacted]"


def watch(session: Session) -> None:
    event.listen(session, "after_flush", _after_flush)


def record(
    session: Session,
    *,
    action: str,
    entity: str,
    entity_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """An explicit entry for writes the ORM does not see (bulk loads, reveals, sends)."""
    session.execute(
        insert(AuditLog).values(
            at=utcnow(),
            actor=actor or session.info.get("actor", "system"),
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
        )
    )


def _after_flush(session: Session, _context: Any) -> None:
    if session.info.get("audit") is False:
        return
    rows: list[dict[str, Any]] = []
    actor = session.info.get("actor", "system")
    for obj, action in [
        *((o, "create") for o in session.new),
        *((o, "update") for o in session.dirty),
        *((o, "delete") for o in session.deleted),
    ]:
        if isinstance(obj, _SKIP) or not hasattr(obj, "__tablename__"):
            continue
        if isinstance(obj, _SKIP_UNLESS_STAFF) and not str(actor).startswith("staff:"):
            continue
        before, after = _diff(obj, action)
        if action == "update" and not after:
            continue
        rows.append(
            {
                "at": utcnow(),
                "actor": actor,
                "action": action,
                "entity": obj.__tablename__,
                "entity_id": _identity(obj),
                "before": before,
                "after": after,
            }
        )
    if rows:
        session.connection().execute(insert(AuditLog), rows)


def _identity(obj: Any) -> str:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(v) for v in key if v is not None)


def _diff(obj: Any, action: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        history = state.attrs[key].history
        if action == "create":
            after[key] = _plain(key, getattr(obj, key))
        elif action == "delete":
            before[key] = _plain(key, getattr(obj, key))
        elif history.has_changes():
            before[key] = _plain(key, history.deleted[0] if history.deleted else None)
            after[key] = _plain(key, history.added[0] if history.added else None)
    return (before or None), (after or None)


def _plain(key: str, value: Any) -> Any:
    if key.endswith(("_enc", "_bidx", "_hash")) and value is not None:
        return _REDACTED
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value
