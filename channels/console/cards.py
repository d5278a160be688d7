"""What staff see of a conversation: the handoff card, the queue row, transcript lines — masked.

Everything here passes personal data through the masks (`memory.pii`): the resident's name,
phone and ID number, and any ID or phone number inside free text, including the resident's
name where it appears in a message. Only `revealed` (supervisors, audit-logged) decrypts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from tongban.agent.interface import Assistant
from tongban.memory import uploads
from tongban.memory.models import (
    FormFill,
    FormFillStatus,
    Hall,
    Handoff,
    Resident,
    ServiceItem,
    utcnow,
)
from tongban.memory.pii import Vault, mask_id_number, mask_name, mask_phone, mask_text
from tongban.memory.residents import Identity, identity_of
from tongban.memory.transcripts import Entry
from tongban.tools.review.review import summarise

_GIVEN = ("hall", "date", "period", "time", "receipt_no")  # shown as the resident gave them
_ROLES_SHOWN = {"resident": "居民", "bot": "智能助手", "staff": "工作人员", "note": "内部备注", "system": "系统通知"}


def masker(identity: Identity) -> Callable[[str], str]:
    """Masks ID and phone numbers in text, and the resident's own name where it appears."""
    name = identity.name

    def mask(text: str) -> str:
        text = mask_text(text)
        if name and len(name) >= 2:
            text = text.replace(name, mask_name(name))
        return text

    return mask


def masked_person(identity: Identity) -> dict[str, str]:
    return {"name": mask_name(identity.name), "phone": mask_phone(identity.phone),
            "id_number": mask_id_number(identity.id_number)}


def canonical_hall(session: Session, name: str | None) -> str | None:
    """A hall as named by a resident (full name, code or alias) as its full name."""
    if not name:
        return None
    hall = session.exec(select(Hall).where(or_(Hall.name == name, Hall.code == name))).first()
    if hall is not None:
        return hall.name
    for row in session.exec(select(Hall)):
        if name in (row.aliases or []):
            return row.name
    return name


def place_of(session: Session, agent: Assistant, handoff: Handoff) -> tuple[str | None, str | None]:
    """(hall, department) of a handoff, as its card shows them."""
    resident = session.get(Resident, handoff.resident_id)
    focus = agent.focus(handoff.resident_id)
    code = handoff.item_code or (focus.get("item") or {}).get("code")
    department = session.exec(select(ServiceItem.department).where(ServiceItem.code == code)).first() if code else None
    usual = session.get(Hall, resident.usual_hall_id) if resident and resident.usual_hall_id else None
    memory = (resident.memory or {}) if resident else {}
    hall = focus.get("hall") or (usual.name if usual else None) or memory.get("usual_hall")
    return canonical_hall(session, hall), department


def card(session: Session, vault: Vault, agent: Assistant, handoff: Handoff) -> dict[str, Any]:
    """The handoff card: why, which item, what the resident already gave, who (masked)."""
    resident = session.get(Resident, handoff.resident_id)
    identity = identity_of(resident, vault) if resident else Identity()
    focus = agent.focus(handoff.resident_id)
    code = handoff.item_code or (focus.get("item") or {}).get("code")
    item = session.exec(select(ServiceItem).where(ServiceItem.code == code)).first() if code else None
    given: dict[str, str] = {k: mask_text(str(focus[k])) for k in _GIVEN if focus.get(k)}
    if focus.get("phone"):
        given["phone"] = mask_phone(str(focus["phone"]))
    if focus.get("id_last4"):
        given["id_last4"] = "****"
    hall, _department = place_of(session, agent, handoff)
    return {
        "handoff_id": handoff.id,
        "resident_id": handoff.resident_id,
        "reason": handoff.reason,
        "item": {"code": item.code, "name": item.name, "department": item.department} if item else None,
        "hall": hall,
        "department": item.department if item else None,
        "given": given,
        "resident": masked_person(identity),
        "verified": bool(resident and resident.verified),
        "verified_by": _verified_by(resident),
        "elderly": bool(resident and resident.elderly),
        "channel": handoff.channel,
        "review": review_of(session, handoff.resident_id, item),
        "forms": forms_of(session, handoff.resident_id),
        **status_of(handoff),
    }


def _verified_by(resident: Resident | None) -> str | None:
    """What the verification rests on: an ID number (实名), or only a phone the network proved
    (an SMS sender) — which is not a name, so the card must not claim 实名 for it."""
    if resident is None or not resident.verified:
        return None
    return "id_number" if resident.id_number_bidx else "phone"


def review_of(session: Session, resident_id: int, item: ServiceItem | None) -> dict[str, Any]:
    """The material pre-check for staff: each material's latest verdict and every upload, masked.

    What is stored is already masked (names as 王*, ID numbers as 4501**********1234); each
    upload opens through `/console/api/uploads/{id}`, which logs who looked.
    """
    rows = uploads.for_item(session, resident_id, item.code if item else None)
    summary = summarise(item, rows) if item else None
    return {
        "materials": [v.as_dict() for v in summary.verdicts] if summary else [],
        "unmatched": summary.unmatched if summary else [],
        "uploads": [
            {"id": r.id, "kind_name": (r.review or {}).get("kind_name"), "material": r.material,
             "content_type": r.content_type, "size_bytes": r.size_bytes, "at": _aware(r.created_at).isoformat(),
             "facts": (r.review or {}).get("facts", {}), "problems": [p["text"] for p in (r.review or {}).get("problems", [])],
             "status": (r.review or {}).get("status"), "url": f"/console/api/uploads/{r.id}"}
            for r in rows
        ],
        "note": "系统自动预审，仅供参考，由工作人员决定是否受理",
    }


def forms_of(session: Session, resident_id: int) -> list[dict[str, Any]]:
    """The resident's confirmed pre-filled forms, newest first. Only the item and date are shown;
    the values are in the PDF, which opens (audited) while the staff member holds the handoff."""
    rows = session.exec(
        select(FormFill, ServiceItem.name)
        .join(ServiceItem, col(ServiceItem.code) == col(FormFill.item_code), isouter=True)
        .where(FormFill.resident_id == resident_id, FormFill.status == FormFillStatus.CONFIRMED)
        .order_by(col(FormFill.id).desc())
    ).all()
    return [{"title": f"{name or fill.item_code}申请表", "reference": f"{fill.id or 0:08d}",
             "at": _aware(fill.updated_at).isoformat(), "url": f"/console/api/forms/{fill.token}.pdf"}
            for fill, name in rows]


def status_of(handoff: Handoff, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    created = _aware(handoff.created_at)
    claimed = _aware(handoff.claimed_at) if handoff.claimed_at else None
    return {
        "status": handoff.status,
        "staff": handoff.staff,
        "created_at": created.isoformat(),
        "claimed_at": claimed.isoformat() if claimed else None,
        "closed_at": _aware(handoff.closed_at).isoformat() if handoff.closed_at else None,
        "waited_s": int(((claimed or now) - created).total_seconds()),
        "notified": handoff.notified_at is not None,
    }


def line(entry: Entry, mask: Callable[[str], str]) -> dict[str, Any]:
    """One transcript message for the console; voice carries an authenticated audio URL."""
    return {
        "id": entry.id,
        "resident_id": entry.resident_id,
        "handoff_id": entry.handoff_id,
        "role": entry.role,
        "role_label": _ROLES_SHOWN.get(entry.role, entry.role),
        "channel": entry.channel,
        "text": mask(entry.text),
        "at": _aware(entry.at).isoformat(),
        "staff": entry.staff,
        "staff_name": entry.staff_name,  # as the resident saw it (王芳), not the login name
        "delivered": entry.delivered,
        "audio": f"/console/api/audio/{entry.id}" if entry.audio_ref else None,
    }


def revealed(identity: Identity) -> dict[str, str | None]:
    return {"name": identity.name, "phone": identity.phone, "id_number": identity.id_number}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
