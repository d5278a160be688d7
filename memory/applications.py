"""Writing applications (办件): applicant identity stored encrypted with blind indexes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, field_validator
from sqlalchemy import delete
from sqlmodel import Session, select

from tongban.memory.models import Application, ApplicationEvent, Hall, ServiceItem
from tongban.memory.pii import Vault, normalise_id_number, normalise_phone

RECEIPT_RE = re.compile(r"^GX\d{14}$")


class ApplicantIn(BaseModel):
    name: str
    phone: str | None = None
    id_number: str | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value else None

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return normalise_id_number(value) if value else None


class EventIn(BaseModel):
    status: str
    at: dt.datetime
    department: str = ""
    note: str = ""


class ApplicationIn(BaseModel):
    """One application as imported or set up for an evaluation case."""

    receipt_no: str
    item: str
    hall: str
    applicant: ApplicantIn
    status: str
    events: list[EventIn] = []

    @field_validator("receipt_no")
    @classmethod
    def _receipt(cls, value: str) -> str:
        value = value.strip().upper()
        if not RECEIPT_RE.match(value):
            raise ValueError("受理编号应为 GX 加 14 位数字")
        return value


class UnknownReference(ValueError):
    """An import row names an item or hall that the catalog does not have."""


def add_application(session: Session, vault: Vault, data: ApplicationIn | dict[str, Any]) -> Application:
    """Insert or replace one application and its timeline (keyed by receipt number)."""
    app_in = data if isinstance(data, ApplicationIn) else ApplicationIn.model_validate(data)
    item = session.exec(select(ServiceItem).where(ServiceItem.name == app_in.item)).first()
    if item is None:
        raise UnknownReference(f"未知事项：{app_in.item}")
    hall = session.exec(select(Hall).where(Hall.name == app_in.hall)).first()
    if hall is None:
        raise UnknownReference(f"未知大厅：{app_in.hall}")
    existing = session.exec(
        select(Application).where(Application.receipt_no == app_in.receipt_no)
    ).first()
    if existing is not None:
        session.execute(delete(ApplicationEvent).where(ApplicationEvent.application_id == existing.id))
        session.delete(existing)
        session.flush()
    person = app_in.applicant
    events = app_in.events or [EventIn(status=app_in.status, at=dt.datetime.now(dt.UTC))]
    application = Application(
        receipt_no=app_in.receipt_no,
        item_id=item.id,
        hall_id=hall.id,
        status=app_in.status,
        applicant_name_enc=vault.encrypt(person.name) or "",
        applicant_phone_enc=vault.encrypt(person.phone),
        applicant_id_enc=vault.encrypt(person.id_number),
        applicant_phone_bidx=vault.blind_index("phone", person.phone),
        applicant_id_bidx=vault.blind_index("id", person.id_number),
        applicant_id_last4_bidx=vault.blind_index(
            f"id4:{app_in.receipt_no}", person.id_number[-4:] if person.id_number else None
        ),
        submitted_at=min(e.at for e in events),
    )
    session.add(application)
    session.flush()
    for event in events:
        session.add(
            ApplicationEvent(
                application_id=application.id,
                status=event.status,
                at=event.at,
                department=event.department,
                note=event.note,
            )
        )
    session.flush()
    return application
