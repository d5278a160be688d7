"""Keeping what residents said only as long as the service needs it.

Inbound messages, transcripts with their voice recordings, and the unanswered-questions log are
deleted once older than a configured number of days; uploaded materials (photos, PDFs of ID cards)
after their own, shorter period (`upload_retention_days`). Appointments, applications and the audit
log are the hall's records and are not touched here; pre-filled application forms go with the
messages they were filled in. Each purge leaves one audit entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import Session, col, select

from tongban.memory import audit, forms, uploads
from tongban.memory.models import (
    InboundMessage,
    LiveMessage,
    QuestionLog,
    Recording,
    TranscriptMessage,
)
from tongban.memory.transcripts import audio_dir


@dataclass
class Purged:
    inbound: int = 0
    transcript: int = 0
    recordings: int = 0
    questions: int = 0
    uploads: int = 0
    forms: int = 0
    live: int = 0  # messages queued for web pages (their text, sealed)


def purge_before(session: Session, data_dir: Path, cutoff: dt.datetime, *, uploads_before: dt.datetime | None = None) -> Purged:
    """Delete rows (and recording files) from before `cutoff`; uploads from before `uploads_before`."""
    purged = Purged()
    refs = session.exec(
        select(TranscriptMessage.audio_ref).where(
            col(TranscriptMessage.at) < cutoff, col(TranscriptMessage.audio_ref).is_not(None)
        )
    ).all()
    for ref in refs:
        path = audio_dir(data_dir) / str(ref)
        if path.is_file():  # written by an earlier version, before recordings moved into the database
            path.unlink()
            purged.recordings += 1
    if refs:
        purged.recordings += session.execute(delete(Recording).where(col(Recording.ref).in_(list(refs)))).rowcount
    purged.recordings += session.execute(delete(Recording).where(col(Recording.created_at) < cutoff)).rowcount
    purged.live = session.execute(delete(LiveMessage).where(col(LiveMessage.created_at) < cutoff)).rowcount
    purged.transcript = session.execute(delete(TranscriptMessage).where(col(TranscriptMessage.at) < cutoff)).rowcount
    purged.inbound = session.execute(delete(InboundMessage).where(col(InboundMessage.received_at) < cutoff)).rowcount
    purged.questions = session.execute(delete(QuestionLog).where(col(QuestionLog.at) < cutoff)).rowcount
    purged.uploads = uploads.purge_before(session, uploads_before or cutoff)
    purged.forms = forms.purge_before(session, cutoff)
    audit.record(session, action="retention", entity="personal_data", after={**purged.__dict__, "before": cutoff.isoformat(),
                                                                               "uploads_before": (uploads_before or cutoff).isoformat()})
    return purged
