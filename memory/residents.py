"""One resident across channels, their verified identity, and long-term memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from tongban.memory import uploads
from tongban.memory.channel import Channel, column_of
from tongban.memory.models import Resident, utcnow
from tongban.memory.pii import (
    Vault,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
    normalise_phone,
)


@dataclass(frozen=True)
class Identity:
    """A verified identity (实名) as a channel supplies it; validated on construction."""

    name: str | None = None
    phone: str | None = None
    id_number: str | None = None

    def __post_init__(self) -> None:
        if self.phone:
            object.__setattr__(self, "phone", normalise_phone(self.phone))
        if self.id_number:
            object.__setattr__(self, "id_number", normalise_id_number(self.id_number))

    def __repr__(self) -> str:
        return (
            f"Identity(name={mask_name(self.name)!r}, phone={mask_phone(self.phone)!r}, "
            f"id_number={mask_id_number(self.id_number)!r})"
        )


def resolve(
    session: Session,
    vault: Vault,
    *,
    channel: str,
    user_id: str,
    unionid: str | None = None,
    identity: Identity | None = None,
    found: Resident | None = None,
) -> Resident:
    """Find or create the resident behind a channel user, linking by unionid or phone; `found`
    is the one the caller already looked up by the channel's id (`find`)."""
    resident = found
    column = column_of(channel)
    if resident is not None:
        pass
    elif channel == Channel.SMS:
        phone = normalise_phone(user_id)
        resident = _by(session, "phone_bidx", vault.blind_index("phone", phone))
    elif column:
        resident = _by(session, column, user_id)
    else:
        raise ValueError(f"unknown channel {channel!r}")
    if resident is None and unionid:
        resident = _by(session, "wechat_unionid", unionid)
    if resident is None and identity and identity.phone:
        resident = _by(session, "phone_bidx", vault.blind_index("phone", identity.phone))
    if resident is None:
        resident = Resident()
    if column and getattr(resident, column) != user_id:
        setattr(resident, column, user_id)
    if channel == Channel.SMS and resident.phone_bidx is None:
        phone = normalise_phone(user_id)
        resident.phone_enc, resident.phone_bidx = vault.encrypt(phone), vault.blind_index("phone", phone)
    if unionid and resident.wechat_unionid != unionid:
        resident.wechat_unionid = unionid
    if identity:
        _apply_identity(session, resident, vault, identity)
    if resident.id is None or session.is_modified(resident):
        resident.updated_at = utcnow()
        session.add(resident)
        session.flush()
    return resident


def verify(session: Session, vault: Vault, resident: Resident, identity: Identity) -> Resident:
    """Record an identity the operator's identity provider vouched for (`tools.identity`)."""
    _apply_identity(session, resident, vault, identity)
    resident.updated_at = utcnow()
    session.add(resident)
    session.flush()
    return resident


def set_elderly(session: Session, resident: Resident, on: bool) -> None:
    """长者模式, as the resident asked (in words, or with a page's 大字 switch); remembered."""
    if resident.elderly != on:
        resident.elderly = on
        resident.updated_at = utcnow()
        session.add(resident)
        session.flush()


def _apply_identity(session: Session, resident: Resident, vault: Vault, identity: Identity) -> None:
    if identity.name and vault.decrypt(resident.name_enc) != identity.name:
        resident.name_enc = vault.encrypt(identity.name)
    phone_bidx = vault.blind_index("phone", identity.phone) if identity.phone else None
    # a phone another resident already holds (the same person by SMS, say) stays theirs: one
    # phone, one resident; the ID number still identifies this one
    if phone_bidx and resident.phone_bidx != phone_bidx and _by(session, "phone_bidx", phone_bidx) is None:
        resident.phone_enc = vault.encrypt(identity.phone)
        resident.phone_bidx = phone_bidx
    if identity.id_number and resident.id_number_bidx != vault.blind_index("id", identity.id_number):
        resident.id_number_enc = vault.encrypt(identity.id_number)
        resident.id_number_bidx = vault.blind_index("id", identity.id_number)
    verified = bool(identity.id_number or identity.phone)
    if verified and not resident.verified:
        resident.verified = True


def find(session: Session, vault: Vault, *, channel: str, user_id: str) -> Resident | None:
    """The resident behind a channel user, if there is one yet (creates and links nothing)."""
    if channel == Channel.SMS:
        return _by(session, "phone_bidx", vault.blind_index("phone", normalise_phone(user_id)))
    column = column_of(channel)
    return _by(session, column, user_id) if column else None


def _by(session: Session, column: str, value: str | None) -> Resident | None:
    if value is None:
        return None
    return session.exec(select(Resident).where(getattr(Resident, column) == value)).first()


def identity_of(resident: Resident, vault: Vault) -> Identity:
    """Decrypt a resident's identity, for the roles and code paths that must see it."""
    return Identity(
        name=vault.decrypt(resident.name_enc),
        phone=vault.decrypt(resident.phone_enc),
        id_number=vault.decrypt(resident.id_number_enc),
    )


def masked_identity(resident: Resident, vault: Vault) -> dict[str, str]:
    ident = identity_of(resident, vault)
    return {
        "name": mask_name(ident.name),
        "phone": mask_phone(ident.phone),
        "id_number": mask_id_number(ident.id_number),
    }


def remember(session: Session, resident: Resident, **facts: Any) -> None:
    """Merge facts into long-term memory (usual hall, recent items, language…)."""
    merged = {**resident.memory, **{k: v for k, v in facts.items() if v is not None}}
    if merged != resident.memory:
        resident.memory = merged
        resident.updated_at = utcnow()
        session.add(resident)
        session.flush()


def erase(session: Session, resident: Resident) -> None:
    """删除我的信息: forget memory, preferences and personal data (uploaded materials too);
    appointments stay for the hall."""
    uploads.erase_resident(session, resident.id or 0)
    resident.memory = {}
    resident.name_enc = resident.id_number_enc = None
    resident.id_number_bidx = None
    if resident.web_id or resident.wechat_openid or resident.miniprogram_openid:
        resident.phone_enc = resident.phone_bidx = None
    resident.verified = False
    resident.elderly = False
    resident.usual_hall_id = None
    resident.preferred_language = "zh"
    resident.updated_at = utcnow()
    session.add(resident)
    session.flush()
