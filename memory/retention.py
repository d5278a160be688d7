"""Keeping what residents said only as long as the service needs it.

Inbound messages, transcripts with their voice recordings, and the unanswered-questions log are
deleted once older than a configured number of days. Appointments, applications and the audit
log are the hall's records and are not touched here. Each purge leaves one audit entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import Session, col, select

from memory import audit
from memory.models import InboundMessage, QuestionLog, TranscriptMessage
from memory.transcripts import audio_dir


@dataclass
class Purged:
    inbound: int = 0
    transcript: int = 0
    recordings: int = 0
    questions: int = 0


def purge_before(session: Session, data_dir: Path, cutoff: dt.datetime) -> Purged:
    """Delete rows (and recording files) from before `cutoff`."""
    purged = Purged()
    refs = session.exec(
        select(TranscriptMessage.audio_ref).where(
            col(TranscriptMessage.at) < cutoff, col(TranscriptMessage.audio_ref).is_not(None)
        )
    ).all()
    for ref in refs:
        path = audio_dir(data_dir) / str(ref)
        if path.is_file():
            path.unlink()
            purged.recordings += 1
    purged.transcript = session.execute(delete(TranscriptMessage).where(col(TranscriptMessage.at) < cutoff)).rowcount
    purged.inbound = session.execute(delete(InboundMessage).where(col(InboundMessage.received_at) < cutoff)).rowcount
    purged.questions = session.execute(delete(QuestionLog).where(col(QuestionLog.at) < cutoff)).rowcount
    audit.record(session, action="retention", entity="personal_data", after={**purged.__dict__, "before": cutoff.isoformat()})
    return purged
