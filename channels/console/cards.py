"""What staff see of a conversation: the handoff card, the queue row, transcript lines — masked.

Everything here passes personal data through the masks (`memory.pii`): the resident's name,
phone and ID number, and any ID or phone number inside free text, including the resident's
name where it appears in a message. Only `revealed` (supervisors, audit-logged) decrypts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select

from agent.service import Agent
from memory.models import Hall, Handoff, Resident, ServiceItem, utcnow
from memory.pii import Vault, mask_id_number, mask_name, mask_phone, mask_text
from memory.residents import Identity, identity_of
from memory.transcripts import Entry

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


def focus_of(agent: Agent, resident_id: int) -> dict[str, Any]:
    """The conversation's focus from the agent's thread (item, hall, date, receipt number…)."""
    state = agent.graph.get_state({"configurable": {"thread_id": f"resident:{resident_id}"}})
    return dict((state.values or {}).get("focus") or {})


def card(session: Session, vault: Vault, agent: Agent, handoff: Handoff) -> dict[str, Any]:
    """The handoff card: why, which item, what the resident already gave, who (masked)."""
    resident = session.get(Resident, handoff.resident_id)
    identity = identity_of(resident, vault) if resident else Identity()
    focus = focus_of(agent, handoff.resident_id)
    code = handoff.item_code or (focus.get("item") or {}).get("code")
    item = session.exec(select(ServiceItem).where(ServiceItem.code == code)).first() if code else None
    usual = session.get(Hall, resident.usual_hall_id) if resident and resident.usual_hall_id else None
    given: dict[str, str] = {k: mask_text(str(focus[k])) for k in _GIVEN if focus.get(k)}
    if focus.get("phone"):
        given["phone"] = mask_phone(str(focus["phone"]))
    if focus.get("id_last4"):
        given["id_last4"] = "****"
    memory = (resident.memory or {}) if resident else {}
    hall = focus.get("hall") or (usual.name if usual else None) or memory.get("usual_hall")
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
        "elderly": bool(resident and resident.elderly),
        "channel": handoff.channel,
        **status_of(handoff),
    }


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
        "delivered": entry.delivered,
        "audio": f"/console/api/audio/{entry.id}" if entry.audio_ref else None,
    }


def revealed(identity: Identity) -> dict[str, str | None]:
    return {"name": identity.name, "phone": identity.phone, "id_number": identity.id_number}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
