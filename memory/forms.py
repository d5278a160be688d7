"""Application forms residents fill in conversation, held only sealed.

A form's values are personal data (ID numbers, bank cards, a partner's name), so a `FormFill`
row keeps them as one Fernet token (`Vault`); the row's `token` is the unguessable part of the
PDF's address and is always looked up together with its owner. Values a resident may be asked
for again on another form (an address, a bank card) are remembered in the resident's memory,
sealed too, so the next form can fill them without asking.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from sqlalchemy import delete
from sqlmodel import Session, col, select

from tongban.memory import residents
from tongban.memory.models import FormFill, FormFillStatus, Resident, utcnow
from tongban.memory.pii import Vault

REMEMBERED = "form_values"  # the sealed key in Resident.memory


def _seal(vault: Vault, values: dict[str, str]) -> str:
    return vault.encrypt(json.dumps(values, ensure_ascii=False, sort_keys=True)) or ""


def values_of(fill: FormFill, vault: Vault) -> dict[str, str]:
    return json.loads(vault.decrypt(fill.values_enc) or "{}") if fill.values_enc else {}


def draft_for(session: Session, *, resident_id: int, item_code: str) -> FormFill | None:
    """The resident's unfinished form for this item, if any (the newest)."""
    return session.exec(
        select(FormFill)
        .where(FormFill.resident_id == resident_id, FormFill.item_code == item_code,
               FormFill.status == FormFillStatus.DRAFT)
        .order_by(col(FormFill.id).desc())
    ).first()


def save(session: Session, vault: Vault, fill: FormFill | None, *, resident_id: int, item_code: str,
         values: dict[str, str]) -> FormFill:
    """Create a draft or replace an existing draft's values."""
    if fill is None:
        fill = FormFill(token=secrets.token_urlsafe(24), resident_id=resident_id, item_code=item_code)
    if fill.status != FormFillStatus.DRAFT:
        raise ValueError("a confirmed form is not edited; start a new one")
    fill.values_enc = _seal(vault, values)
    fill.updated_at = utcnow()
    session.add(fill)
    session.flush()
    return fill


def confirm(session: Session, fill: FormFill) -> FormFill:
    fill.status = FormFillStatus.CONFIRMED
    fill.updated_at = utcnow()
    session.add(fill)
    session.flush()
    return fill


def owned(session: Session, *, token: str, resident_id: int) -> FormFill | None:
    """The form behind a token, only if it belongs to this resident."""
    return session.exec(
        select(FormFill).where(FormFill.token == token, FormFill.resident_id == resident_id)
    ).first()


def by_token(session: Session, token: str) -> FormFill | None:
    return session.exec(select(FormFill).where(FormFill.token == token)).first()


def remembered(resident: Resident, vault: Vault) -> dict[str, str]:
    """Values kept from earlier forms (address, bank card), opened from the sealed memory entry."""
    sealed = (resident.memory or {}).get(REMEMBERED)
    if not sealed:
        return {}
    try:
        return json.loads(vault.decrypt(sealed) or "{}")
    except ValueError:  # sealed under another secret key: forget rather than fail
        return {}


def remember(session: Session, resident: Resident, vault: Vault, values: dict[str, str]) -> None:
    merged = {**remembered(resident, vault), **{k: v for k, v in values.items() if v}}
    if merged:
        residents.remember(session, resident, **{REMEMBERED: _seal(vault, merged)})


def erase_resident(session: Session, resident_id: int) -> int:
    """删除我的信息: the resident's forms go with the rest of their personal data."""
    return session.execute(delete(FormFill).where(col(FormFill.resident_id) == resident_id)).rowcount


def purge_before(session: Session, cutoff: dt.datetime) -> int:
    """Retention: forms created before `cutoff`, drafts and confirmed alike."""
    return session.execute(delete(FormFill).where(col(FormFill.created_at) < cutoff)).rowcount
