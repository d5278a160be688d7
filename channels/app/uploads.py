"""Material uploads from the web chat and the mini-program: receive, review, store sealed, reply.

A resident sends a photo or PDF (multipart, part `file`; optionally `item`, an item code). The
file must really be a JPEG, PNG or PDF (its bytes are sniffed, the name and declared type are not
trusted) and no larger than `max_material_bytes`; anything else is refused with a clear message
and nothing is stored. The item is the one named, else the conversation's current item. The
review (OCR, document kind, field checks, per-material verdict) is stored with the sealed file;
the reply lists the item's materials one by one and says that staff, not the pre-check, decide.
Both sides of the exchange go into the transcript staff read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from sqlmodel import Session, select

from tongban.agent.service import Agent
from tongban.channels.app import keys
from tongban.channels.app.chat_api import error, json_reply, too_large
from tongban.channels.console.outbox import HUB_POKE
from tongban.memory import transcripts, uploads
from tongban.memory.models import ServiceItem, TranscriptRole
from tongban.memory.residents import identity_of, resolve
from tongban.memory.store import Store
from tongban.tools.handoff import open_handoff
from tongban.tools.review.checks import Applicant
from tongban.tools.review.ocr import PDF, UnreadableDocument, shared_engine, sniff
from tongban.tools.review.review import item_summary, reply_text, review_file
from tongban.tools.review.settings import get_review_settings

log = logging.getLogger(__name__)

_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the item field, beyond the file itself
_SHOWN_TYPES = {"image/jpeg": "JPG 图片", "image/png": "PNG 图片", PDF: "PDF 文件"}
WHILE_HELD = "材料已收到，正在为您服务的工作人员会查看并答复您。"


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


@dataclass(frozen=True)
class _Context:
    actor: str
    resident_id: int
    applicant: Applicant
    item: ServiceItem | None
    handoff_id: int | None


async def receive(request: web.Request, *, channel: str, user_id: str, unionid: str | None = None) -> web.Response:
    """The whole upload: read, check, review, store, reply."""
    app = request.app
    limit = app[keys.SETTINGS].max_material_bytes
    try:
        data, item_code = await _read(request, limit)
        content_type = sniff(data)
        if content_type is None:
            raise _Refused(error(415, "unsupported_media_type", "只能上传 JPG、PNG 图片或 PDF 文件"))
        store, agent = app[keys.STORE], app[keys.AGENT]
        context = await asyncio.to_thread(_context, store, agent, channel, user_id, unionid, item_code)
        try:
            review = await review_file(shared_engine(), data, applicant=context.applicant,
                                       today=agent.clock().date(), max_pages=get_review_settings().review_max_pages)
        except UnreadableDocument as exc:
            raise _Refused(error(400, "unreadable", f"{exc}，请重新拍摄或选择文件")) from exc
    except _Refused as refused:
        return refused.response
    body = await asyncio.to_thread(_keep, store, channel, context, data, content_type, review)
    poke = app.get(HUB_POKE)
    if callable(poke):
        poke()  # the console shows the new lines and the card's review at once
    log.info("upload: %s %s, %d bytes, kind %s", channel, content_type, len(data), review.get("kind"))
    return json_reply(body)


async def _read(request: web.Request, limit: int) -> tuple[bytes, str | None]:
    if request.content_length is not None and request.content_length > limit + _FORM_OVERHEAD:
        raise _Refused(too_large(limit))
    if not request.content_type.startswith("multipart/"):
        raise _Refused(error(400, "bad_request", "请以 multipart/form-data 上传文件（字段 file）"))
    data, item_code = b"", None
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" or (part.filename is not None and not data):
                data = await _limited(part, limit)
            elif part.name == "item":
                item_code = (await part.text()).strip()[:64] or None
    except ValueError as exc:  # a malformed multipart body
        raise _Refused(error(400, "bad_request", "上传内容格式不正确")) from exc
    if not data:
        raise _Refused(error(400, "bad_request", "没有收到文件，请选择要上传的照片或 PDF"))
    return data, item_code


async def _limited(part: BodyPartReader, limit: int) -> bytes:
    """Read in chunks, refusing as soon as the file passes the limit (not after buffering it all)."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(65536):
        size += len(chunk)
        if size > limit:
            raise _Refused(too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _context(store: Store, agent: Agent, channel: str, user_id: str, unionid: str | None,
             item_code: str | None) -> _Context:
    """Who is uploading, for which item: the one named, else the conversation's current one."""
    actor = f"resident:{channel}:{user_id[-6:]}"  # as the agent names residents in the audit log
    with store.session(actor=actor) as session:
        resident = resolve(session, store.vault, channel=channel, user_id=user_id, unionid=unionid)
        resident_id = resident.id or 0
        identity = identity_of(resident, store.vault)
        if item_code is None:
            state = agent.graph.get_state({"configurable": {"thread_id": f"resident:{resident_id}"}})
            item_code = (((state.values or {}).get("focus") or {}).get("item") or {}).get("code")
        item = _item(session, item_code)
        if item_code and item is None:
            raise _Refused(error(400, "unknown_item", f"没有编码为 {item_code} 的办事事项"))
        held = open_handoff(session, resident_id)
        return _Context(actor=actor, resident_id=resident_id, applicant=Applicant(name=identity.name, id_number=identity.id_number),
                        item=item, handoff_id=held.id if held else None)


def _item(session: Session, code: str | None) -> ServiceItem | None:
    return session.exec(select(ServiceItem).where(ServiceItem.code == code)).first() if code else None


def _keep(store: Store, channel: str, context: _Context, data: bytes, kind: str,
          review: dict[str, Any]) -> dict[str, Any]:
    """Store the sealed file with its review, judge the item's materials, record both turns."""
    with store.session(actor=context.actor) as session:
        row = uploads.save(session, store.vault, resident_id=context.resident_id, channel=channel, content_type=kind,
                           data=data, review=review, item_code=context.item.code if context.item else None)
        summary = item_summary(session, context.resident_id, context.item)
        material = summary.assigned.get(row.id or 0) if summary else None
        uploads.set_material(session, row, material)
        text = WHILE_HELD if context.handoff_id else reply_text(review, context.item.name if context.item else None,
                                                                summary)
        said = f"〔上传材料〕{_SHOWN_TYPES.get(kind, kind)}，{max(1, len(data) // 1024)} KB"
        answered_by = TranscriptRole.SYSTEM if context.handoff_id else TranscriptRole.BOT  # staff hold it: no bot
        for role, line in ((TranscriptRole.RESIDENT, said), (answered_by, text)):
            transcripts.append(session, store.vault, resident_id=context.resident_id, role=role, channel=channel,
                               text=line, handoff_id=context.handoff_id)
        card = {"type": "review", "item": context.item.name if context.item else None,
                "kind_name": review.get("kind_name"), **(summary.as_dict() if summary else {})}
        return {
            "text": text, "ai_generated": False, "ai_label": None, "quick_replies": [],
            "cards": [] if context.handoff_id else [card], "intent": "material_review",
            "item": context.item.name if context.item else None, "handoff": context.handoff_id is not None,
            "upload": {"id": row.id, "kind": review.get("kind"), "kind_name": review.get("kind_name"),
                       "material": material, "content_type": kind, "size_bytes": len(data)},
        }

