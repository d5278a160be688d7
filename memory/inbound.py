"""Accepting channel messages exactly once, durably, before acknowledging them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

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
    arriving at once, exactly one insert succeeds.
    """
    existing = _get(session, channel, message_key)
    if existing is not None:
        return existing, False
    row = InboundMessage(
        channel=channel, message_key=message_key[:128], user_id=user_id[:64], kind=kind,
        text_enc=vault.encrypt(text) if text is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        again = _get(session, channel, message_key)
        assert again is not None
        return again, False
    return row, True


def record_reply(
    session: Session, message_id: int, reply: dict[str, Any], *, delivered: bool,
    status: InboundStatus | None = None,
) -> None:
    """Store what the agent said; `status` overrides the DELIVERED/ANSWERED that `delivered` picks."""
    row = session.get(InboundMessage, message_id)
    if row is None:
        return
    row.reply = reply
    row.status = status or (InboundStatus.DELIVERED if delivered else InboundStatus.ANSWERED)
    row.answered_at = utcnow()
    session.add(row)
    session.flush()


def mark(session: Session, message_id: int, status: InboundStatus, *, attempts: int | None = None) -> None:
    row = session.get(InboundMessage, message_id)
    if row is None:
        return
    row.status = status
    if attempts is not None:
        row.attempts = attempts
    session.add(row)
    session.flush()


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
