"""Progress queries for the agent, always through `memory.progress` — the one disclosure rule."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from tongban.memory.models import Resident
from tongban.memory.pii import Vault
from tongban.memory.progress import (
    Outcome,
    ProgressResult,
    ProgressView,
    applications_of,
    query_progress,
)

__all__ = ["Outcome", "ProgressResult", "ProgressView", "check_progress", "my_applications"]


def check_progress(
    session: Session,
    vault: Vault,
    *,
    resident: Resident,
    requester: str,
    receipt_no: str,
    now: dt.datetime,
    phone: str | None = None,
    id_last4: str | None = None,
) -> ProgressResult:
    """Whatever a brain asks for, the applicant check runs here; there is no other path."""
    return query_progress(
        session, vault, receipt_no=receipt_no, requester=requester, now=now,
        phone=phone, id_last4=id_last4, resident=resident,
    )


def my_applications(session: Session, *, resident: Resident) -> list[ProgressView]:
    return applications_of(session, resident)
