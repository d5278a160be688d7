"""Accepting channel messages exactly once, durably, before acknowledging them.

Every message passes here two or three times (accepted, answered, delivered), so each step is
one statement: an insert that yields to the row already there, an update by id. Their rows
describe themselves (when, which status, what was answered) and are not audited one by one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from tongban.memory.db import insert_new
from tongban.memory.models import (
    InboundMessage,
    InboundStatus,
    TranscriptMessage,
    TranscriptRole,
    utcnow,
)
from tongban.memory.pii import Vault


def accept(
    session: Session,
    vault: Vault,
    *,
    channel: str,
    message_key: str,
    user_id: str,
    text: str | None,
    kind: str = "text",
) -> tuple[InboundMessage, bool]:
    """Store a message; returns (row, True) the first time, (existing row, False) on a retry.

    The unique (channel, message_key) constraint decides across replicas: of two deliveries
    arriving at once, exactly one insert succeeds; the other finds the first one's row.
    """
    values: dict[str, Any] = {
        "channel": channel, "message_key": message_key[:128], "user_id": user_id[:64], "kind": kind,
        "text_enc": vault.encrypt(text) if text is not None else None,
        "status": InboundStatus.RECEIVED, "attempts": 0, "received_at": utcnow(),
    }
    row_id = insert_new(session, InboundMessage, values, ("channel", "message_key"), returning="id").scalar()
    if row_id is None:
        existing = _get(session, channel, message_key)
        assert existing is not None
        return existing, False
    row = InboundMessage(id=row_id, **values)
    make_transient_to_detached(row)
    session.add(row)  # the row as inserted, persistent without reading it back
    return row, True


def record_reply(
    session: Session, message_id: int, reply: dict[str, Any], *, delivered: bool,
    status: InboundStatus | None = None,
) -> None:
    """Store what the agent said; `status` overrides the DELIVERED/ANSWERED that `delivered` picks."""
    status = status or (InboundStatus.DELIVERED if delivered else InboundStatus.ANSWERED)
    session.connection().execute(_BY_ID, {"row_id": message_id, "reply": reply, "status": status, "answered_at": utcnow()})


def mark(session: Session, message_id: int, status: InboundStatus, *, attempts: int | None = None) -> None:
    values: dict[str, Any] = {"row_id": message_id, "status": status}
    if attempts is not None:
        values["attempts"] = attempts
    session.connection().execute(_BY_ID, values)


# the columns set are the parameters' other keys (built once: every message passes here)
_BY_ID = update(InboundMessage.__table__).where(InboundMessage.__table__.c.id == bindparam("row_id"))  # type: ignore[attr-defined]


def undelivered(session: Session, *, channel: str, limit: int = 100) -> list[InboundMessage]:
    """Answers that still wait for delivery (after a crash or a failed push)."""
    query = (
        select(InboundMessage)
        .where(InboundMessage.channel == channel, InboundMessage.status == InboundStatus.ANSWERED)
        .order_by(col(InboundMessage.received_at))
        .limit(limit)
    )
    return list(session.exec(query))


def committed_reply(session: Session, vault: Vault, *, channel: str, message_key: str) -> str | None:
    """What the agent said to a message whose turn committed, or None if it never committed.

    A turn writes the resident's message (with the channel's id) and the bot's reply to the
    transcript in its own transaction, so after a crash this tells a turn to run again from one
    that ran and whose reply only needs sending: "" when the bot stayed silent (staff held it).
    """
    said = session.exec(
        select(TranscriptMessage).where(
            TranscriptMessage.channel == channel, TranscriptMessage.message_id == message_key[:128],
            TranscriptMessage.role == TranscriptRole.RESIDENT,
        ).order_by(col(TranscriptMessage.id))
    ).first()
    if said is None:
        return None
    answer = session.exec(
        select(TranscriptMessage).where(
            TranscriptMessage.resident_id == said.resident_id, col(TranscriptMessage.id) > (said.id or 0),
        ).order_by(col(TranscriptMessage.id)).limit(1)
    ).first()
    if answer is None or answer.role != TranscriptRole.BOT:
        return ""
    return vault.decrypt(answer.text_enc) or ""


def _get(session: Session, channel: str, key: str) -> InboundMessage | None:
    return session.exec(
        select(InboundMessage).where(InboundMessage.channel == channel, InboundMessage.message_key == key[:128])
    ).first()
