"""The full record of each conversation — resident, bot, staff — for the staff who take it over.

Text is stored encrypted like all personal data and decrypted only on the way to a reader
that masks it (the console) or is entitled to it. A voice message keeps a reference to its
recording, itself sealed in the database (every replica reads it), beside the transcript of what was said.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, col, select

from tongban.memory.models import Recording, StaffAccount, TranscriptMessage, TranscriptRole, utcnow
from tongban.memory.pii import Vault

_AUDIO_REF = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{2,5}")


@dataclass(frozen=True)
class Entry:
    """One message as a reader sees it (decrypted; callers mask before showing staff)."""

    id: int
    resident_id: int
    handoff_id: int | None
    role: str
    channel: str
    text: str
    at: dt.datetime
    message_id: str | None
    audio_ref: str | None
    staff: str | None  # the staff member's username
    delivered: bool | None
    staff_name: str | None = None  # their display name (王芳), as residents see it


def append(
    session: Session,
    vault: Vault,
    *,
    resident_id: int,
    role: TranscriptRole | str,
    channel: str,
    text: str,
    handoff_id: int | None = None,
    message_id: str | None = None,
    audio_ref: str | None = None,
    staff: str | None = None,
    delivered: bool | None = None,
    at: dt.datetime | None = None,
) -> TranscriptMessage:
    row = TranscriptMessage(
        resident_id=resident_id, handoff_id=handoff_id, role=str(role), channel=channel,
        text_enc=vault.encrypt(text) or "", at=at or utcnow(), message_id=(message_id or None) and message_id[:128],
        audio_ref=audio_ref, staff=staff, delivered=delivered,
    )
    session.add(row)
    session.flush()
    return row


def append_turn(
    session: Session,
    vault: Vault,
    *,
    resident_id: int,
    channel: str,
    said: str,
    answer: str | None = None,
    handoff_id: int | None = None,
    message_id: str | None = None,
    audio_ref: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """A conversation turn's lines — what the resident said, then the bot's answer (none while
    staff hold the conversation) — in one statement at the turn's end, so the turn's write
    transaction starts late and stays short."""
    now = utcnow()
    common = {"resident_id": resident_id, "channel": channel, "staff": None, "delivered": None}
    rows = [{**common, "handoff_id": handoff_id, "role": str(TranscriptRole.RESIDENT), "text_enc": vault.encrypt(said) or "",
             "at": at or now, "message_id": (message_id or None) and message_id[:128], "audio_ref": audio_ref}]
    if answer:
        rows.append({**common, "handoff_id": None, "role": str(TranscriptRole.BOT), "text_enc": vault.encrypt(answer) or "",
                     "at": now, "message_id": None, "audio_ref": None})
    session.connection().execute(_INSERT, rows)


_INSERT = insert(TranscriptMessage.__table__)  # type: ignore[attr-defined]


def conversation(session: Session, vault: Vault, resident_id: int, *, limit: int = 500) -> list[Entry]:
    """A resident's latest messages, oldest first."""
    rows = session.exec(
        select(TranscriptMessage).where(TranscriptMessage.resident_id == resident_id)
        .order_by(col(TranscriptMessage.id).desc()).limit(limit)
    ).all()
    return _entries(session, vault, list(reversed(rows)))


def for_resident(session: Session, vault: Vault, resident_id: int, *, limit: int = 100) -> list[Entry]:
    """What the resident's own chat shows again after a reload: their messages, the bot's, staff
    replies and notices (join, hours), oldest first; staff's internal notes never."""
    rows = session.exec(
        select(TranscriptMessage).where(TranscriptMessage.resident_id == resident_id,
                                        col(TranscriptMessage.role) != TranscriptRole.NOTE)
        .order_by(col(TranscriptMessage.id).desc()).limit(limit)
    ).all()
    return _entries(session, vault, list(reversed(rows)))


def since(session: Session, vault: Vault, after_id: int, *, limit: int = 200) -> list[Entry]:
    """Messages newer than `after_id`, across residents: what live readers have not seen."""
    rows = session.exec(
        select(TranscriptMessage).where(col(TranscriptMessage.id) > after_id)
        .order_by(col(TranscriptMessage.id)).limit(limit)
    ).all()
    return _entries(session, vault, list(rows))


def latest_id(session: Session) -> int:
    row = session.exec(select(TranscriptMessage.id).order_by(col(TranscriptMessage.id).desc()).limit(1)).first()
    return row or 0


def get(session: Session, vault: Vault, message_id: int) -> Entry | None:
    row = session.get(TranscriptMessage, message_id)
    return _entries(session, vault, [row])[0] if row is not None else None


def _entries(session: Session, vault: Vault, rows: list[TranscriptMessage]) -> list[Entry]:
    usernames = {r.staff for r in rows if r.staff}
    names = dict(session.exec(
        select(StaffAccount.username, StaffAccount.display_name).where(col(StaffAccount.username).in_(usernames))
    ).all()) if usernames else {}
    return [
        Entry(
            id=row.id or 0, resident_id=row.resident_id, handoff_id=row.handoff_id, role=row.role,
            channel=row.channel, text=vault.decrypt(row.text_enc) or "", at=row.at, message_id=row.message_id,
            audio_ref=row.audio_ref, staff=row.staff, delivered=row.delivered,
            staff_name=names.get(row.staff or "", row.staff),
        )
        for row in rows
    ]


# ------------------------------------------------------------------ recorded voice
#
# Recordings live sealed in the database (table `recording`), not on a replica's disk: every
# replica can play them to staff, a rescheduled pod loses none, and retention deletes them in
# the same transaction as their transcript. A voice message is at most 60 s (tens of KB as
# Opus, ~2 MB as 16 kHz WAV), well within what PostgreSQL's bytea holds comfortably.
# Recordings written to `data_dir/audio/` by earlier versions are still read and purged.


def audio_dir(data_dir: Path) -> Path:
    """Where earlier versions kept recordings (read for old references, purged by retention)."""
    return data_dir / "audio"


def save_audio(session: Session, vault: Vault, audio: bytes, fmt: str, *, at: dt.datetime | None = None) -> str:
    """Store a recording sealed; the returned reference is what a transcript row keeps."""
    fmt = re.sub(r"[^a-z0-9]", "", fmt.lower())[:5] or "bin"
    ref = f"{uuid.uuid4().hex}.{fmt}"
    session.add(Recording(ref=ref, blob_enc=vault.encrypt_bytes(audio), created_at=at or utcnow()))
    session.flush()
    return ref


def load_audio(session: Session, vault: Vault, ref: str, *, legacy_dir: Path | None = None) -> tuple[bytes, str] | None:
    """The decrypted recording and its format, or None when the reference is unknown or bad."""
    if not _AUDIO_REF.fullmatch(ref):
        return None
    row = session.exec(select(Recording).where(Recording.ref == ref)).first()
    if row is not None:
        return vault.decrypt_bytes(row.blob_enc), ref.rsplit(".", 1)[1]
    path = audio_dir(legacy_dir) / ref if legacy_dir is not None else None
    if path is None or not path.is_file():
        return None
    return vault.decrypt_bytes(path.read_bytes()), ref.rsplit(".", 1)[1]
