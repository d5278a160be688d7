"""Messages for residents' open web pages, held in the database until one replica delivers them.

Several replicas serve the web chat; a resident's page keeps its socket open to one of them,
and staff may write from the console of another. The message is written here (sealed, in the
transaction that records it) and announced; the replica that holds the page claims it with one
guarded UPDATE (`claimed_at IS NULL`), so exactly one replica sends it. Unclaimed, it waits
for the page's next connection or poll. On PostgreSQL the announcement is a NOTIFY, sent by
the server only when the row commits, so a listener never hears of a row it cannot read yet.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from tongban.memory.db import is_postgres
from tongban.memory.models import LiveMessage, TranscriptMessage, utcnow
from tongban.memory.pii import Vault

CHANNEL = "tongban_live"  # the PostgreSQL notification channel; the payload is the web id


def queue(session: Session, vault: Vault, web_id: str, event: dict[str, Any], *, at: dt.datetime | None = None) -> int:
    """Keep `event` for `web_id` and announce it (on commit); returns the row id."""
    row = LiveMessage(web_id=web_id[:64], event_enc=vault.encrypt(json.dumps(event, ensure_ascii=False)) or "",
                      created_at=at or utcnow())
    session.add(row)
    session.flush()
    announce(session, web_id)
    return row.id or 0


def announce(session: Session, web_id: str) -> None:
    bind = session.get_bind()
    if is_postgres(bind):  # type: ignore[arg-type]
        session.execute(text("SELECT pg_notify(:channel, :web_id)"), {"channel": CHANNEL, "web_id": web_id[:64]})


def link(session: Session, message_id: int, transcript_id: int) -> None:
    """Tie a queued message to its transcript row, so a later delivery marks the row delivered."""
    session.execute(update(LiveMessage).where(col(LiveMessage.id) == message_id).values(transcript_id=transcript_id))
    delivered = session.exec(select(LiveMessage.claimed_at).where(LiveMessage.id == message_id)).first()
    if delivered is not None:
        _mark_delivered(session, [transcript_id])


def claim(session: Session, vault: Vault, web_id: str, replica: str, *, upto: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Take every waiting message for `web_id` (oldest first) for this replica to send."""
    query = (update(LiveMessage)
             .where(col(LiveMessage.web_id) == web_id, col(LiveMessage.claimed_at).is_(None))
             .values(claimed_at=utcnow(), claimed_by=replica[:64])
             .returning(col(LiveMessage.id), col(LiveMessage.event_enc), col(LiveMessage.transcript_id))
             .execution_options(synchronize_session=False))
    if upto is not None:
        query = query.where(col(LiveMessage.id) <= upto)
    rows = sorted(session.execute(query).all())
    _mark_delivered(session, [t for _, _, t in rows if t is not None])
    return [(row_id, json.loads(vault.decrypt(enc) or "{}")) for row_id, enc, _ in rows]


def release(session: Session, message_ids: list[int]) -> None:
    """The page went away between the claim and the send: the messages wait again."""
    if message_ids:
        session.execute(update(LiveMessage).where(col(LiveMessage.id).in_(message_ids))
                        .values(claimed_at=None, claimed_by=None))
        rows = session.exec(select(LiveMessage.transcript_id).where(col(LiveMessage.id).in_(message_ids))).all()
        ids = [t for t in rows if t is not None]
        if ids:
            session.execute(update(TranscriptMessage).where(col(TranscriptMessage.id).in_(ids)).values(delivered=False))


def claimed_by(session: Session, message_id: int) -> str | None:
    return session.exec(select(LiveMessage.claimed_by).where(LiveMessage.id == message_id)).first()


def waiting(session: Session, web_ids: list[str]) -> list[str]:
    """Which of these web ids have messages waiting."""
    if not web_ids:
        return []
    rows = session.exec(select(LiveMessage.web_id).where(col(LiveMessage.web_id).in_(web_ids),
                                                         col(LiveMessage.claimed_at).is_(None)).distinct()).all()
    return list(rows)


def _mark_delivered(session: Session, transcript_ids: list[int]) -> None:
    if transcript_ids:
        session.execute(update(TranscriptMessage).where(col(TranscriptMessage.id).in_(transcript_ids))
                        .values(delivered=True))
