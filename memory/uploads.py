"""Residents' uploaded materials (photos, PDFs): stored sealed, read back only for staff.

The file is encrypted with the vault (Fernet over the bytes) before it reaches the database,
so a dump shows neither the picture nor its text; `sha256` lets the same file be recognised
without opening it. Rows go with the retention job after `upload_retention_days`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from typing import Any

from pydantic import Field
from sqlalchemy import delete
from sqlalchemy.orm import defer
from sqlmodel import Session, col, or_, select

from tongban.memory.models import Upload, utcnow
from tongban.memory.pii import Vault
from tongban.memory.settings import TongbanSettings


class UploadSettings(TongbanSettings):
    # uploaded materials are kept only for the application at hand: a month, then deleted
    upload_retention_days: int = Field(default=30, ge=1, le=3650)


@lru_cache
def get_upload_settings() -> UploadSettings:
    return UploadSettings()


def save(
    session: Session,
    vault: Vault,
    *,
    resident_id: int,
    channel: str,
    content_type: str,
    data: bytes,
    review: dict[str, Any],
    item_code: str | None = None,
    material: str | None = None,
    at: dt.datetime | None = None,
) -> Upload:
    row = Upload(
        resident_id=resident_id, item_code=item_code, channel=channel, content_type=content_type,
        size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), blob_enc=vault.encrypt_bytes(data),
        material=material, review=review, created_at=at or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def load(session: Session, vault: Vault, upload_id: int) -> tuple[bytes, str, Upload] | None:
    """The decrypted file, its content type and its row; None when there is no such upload."""
    row = session.get(Upload, upload_id)
    if row is None:
        return None
    return vault.decrypt_bytes(row.blob_enc), row.content_type, row


def for_item(session: Session, resident_id: int, item_code: str | None, *, limit: int = 50) -> list[Upload]:
    """A resident's uploads for an item and those sent before any item was known (every upload
    when `item_code` is None); oldest first. The sealed files are not read: only the reviews."""
    query = select(Upload).options(defer(Upload.blob_enc)).where(Upload.resident_id == resident_id)  # type: ignore[arg-type]
    if item_code:
        query = query.where(or_(Upload.item_code == item_code, col(Upload.item_code).is_(None)))
    rows = session.exec(query.order_by(col(Upload.id).desc()).limit(limit)).all()
    return list(reversed(rows))


def set_material(session: Session, upload: Upload, material: str | None) -> None:
    if upload.material != material:
        upload.material = material
        session.add(upload)
        session.flush()


def purge_before(session: Session, cutoff: dt.datetime) -> int:
    """Delete uploads (rows and sealed files) older than `cutoff`; returns how many."""
    return session.execute(delete(Upload).where(col(Upload.created_at) < cutoff)).rowcount


def erase_resident(session: Session, resident_id: int) -> int:
    """删除我的信息: every upload of one resident."""
    return session.execute(delete(Upload).where(col(Upload.resident_id) == resident_id)).rowcount
