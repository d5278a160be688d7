"""A resident's material, reviewed and filed: the workflow behind a photo or PDF upload.

The item is the one the upload names, else the conversation's current item. The review (OCR,
document kind, field checks, per-material verdict) is stored with the sealed file; the reply
lists the item's materials one by one and says that staff, not the pre-check, decide. Both
sides of the exchange go into the transcript staff read. While staff hold the conversation
the bot adds no card, only that staff will look.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from tongban.agent.interface import Reviewed, UnknownItem, Unreadable, Upload
from tongban.memory import transcripts, uploads
from tongban.memory.models import ServiceItem, TranscriptRole
from tongban.memory.residents import identity_of, resolve
from tongban.memory.store import Store
from tongban.tools.handoff import open_handoff
from tongban.tools.review.checks import Applicant
from tongban.tools.review.ocr import PDF, UnreadableDocument, shared_engine
from tongban.tools.review.review import item_summary, reply_text, review_file
from tongban.tools.review.settings import get_review_settings

SHOWN_TYPES = {"image/jpeg": "JPG 图片", "image/png": "PNG 图片", PDF: "PDF 文件"}
WHILE_HELD = "材料已收到，正在为您服务的工作人员会查看并答复您。"

Focus = Callable[[int], dict[str, Any]]


@dataclass(frozen=True)
class _Context:
    actor: str
    resident_id: int
    applicant: Applicant
    item: ServiceItem | None
    handoff_id: int | None


async def review_upload(store: Store, upload: Upload, *, today: dt.date, focus: Focus) -> Reviewed:
    """Who sends it for which item, the review, then the sealed file and both turns."""
    context = await asyncio.to_thread(_context, store, upload, focus)
    try:
        review = await review_file(shared_engine(), upload.data, applicant=context.applicant, today=today,
                                   max_pages=get_review_settings().review_max_pages)
    except UnreadableDocument as exc:
        raise Unreadable(str(exc)) from exc
    return await asyncio.to_thread(_keep, store, upload, context, review)


def _context(store: Store, upload: Upload, focus: Focus) -> _Context:
    """Who is uploading, for which item: the one named, else the conversation's current one."""
    actor = f"resident:{upload.channel}:{upload.user_id[-6:]}"  # as the agent names residents in the audit log
    with store.session(actor=actor) as session:
        resident = resolve(session, store.vault, channel=upload.channel, user_id=upload.user_id,
                           unionid=upload.unionid)
        resident_id = resident.id or 0
        identity = identity_of(resident, store.vault)
        item_code = upload.item_code
        if item_code is None:
            item_code = (focus(resident_id).get("item") or {}).get("code")
        item = _item(session, item_code)
        if item_code and item is None:
            raise UnknownItem(item_code)
        held = open_handoff(session, resident_id)
        return _Context(actor=actor, resident_id=resident_id,
                        applicant=Applicant(name=identity.name, id_number=identity.id_number),
                        item=item, handoff_id=held.id if held else None)


def _item(session: Session, code: str | None) -> ServiceItem | None:
    return session.exec(select(ServiceItem).where(ServiceItem.code == code)).first() if code else None


def _keep(store: Store, upload: Upload, context: _Context, review: dict[str, Any]) -> Reviewed:
    """Store the sealed file with its review, judge the item's materials, record both turns."""
    data, kind, channel = upload.data, upload.content_type, upload.channel
    item_name = context.item.name if context.item else None
    with store.session(actor=context.actor) as session:
        row = uploads.save(session, store.vault, resident_id=context.resident_id, channel=channel, content_type=kind,
                           data=data, review=review, item_code=context.item.code if context.item else None)
        summary = item_summary(session, context.resident_id, context.item)
        material = summary.assigned.get(row.id or 0) if summary else None
        uploads.set_material(session, row, material)
        text = WHILE_HELD if context.handoff_id else reply_text(review, item_name, summary)
        said = f"〔上传材料〕{SHOWN_TYPES.get(kind, kind)}，{max(1, len(data) // 1024)} KB"
        answered_by = TranscriptRole.SYSTEM if context.handoff_id else TranscriptRole.BOT  # staff hold it: no bot
        for role, line in ((TranscriptRole.RESIDENT, said), (answered_by, text)):
            transcripts.append(session, store.vault, resident_id=context.resident_id, role=role, channel=channel,
                               text=line, handoff_id=context.handoff_id)
        card = {"type": "review", "item": item_name, "kind_name": review.get("kind_name"),
                **(summary.as_dict() if summary else {})}
        return Reviewed(
            text=text, item=item_name, held=context.handoff_id is not None,
            card=None if context.handoff_id else card,
            upload={"id": row.id, "kind": review.get("kind"), "kind_name": review.get("kind_name"),
                    "material": material, "content_type": kind, "size_bytes": len(data)},
        )
