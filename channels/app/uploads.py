"""Material uploads from the web chat and the mini-program: read, check, hand to the agent, reply.

A resident sends a photo or PDF (multipart, part `file`; optionally `item`, an item code). The
file must really be a JPEG, PNG or PDF (its bytes are sniffed, the name and declared type are not
trusted) and no larger than `max_material_bytes`; anything else is refused with a clear message
and nothing is stored. The agent reviews and files it (`agent.uploads`); this module only speaks
HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import BodyPartReader, web

from tongban.agent.interface import Reviewed, UnknownItem, Unreadable, Upload
from tongban.channels.app import keys
from tongban.channels.app.chat_api import NUL_REFUSED, error, has_nul, json_reply, too_large
from tongban.tools.review.ocr import sniff

log = logging.getLogger(__name__)

_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the item field, beyond the file itself


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


async def receive(request: web.Request, *, channel: str, user_id: str, unionid: str | None = None) -> web.Response:
    """The whole upload: read, check, let the agent review and file it, reply."""
    app = request.app
    limit = app[keys.SETTINGS].max_material_bytes
    try:
        data, item_code = await _read(request, limit)
    except _Refused as refused:
        return refused.response
    content_type = sniff(data)
    if content_type is None:
        return error(415, "unsupported_media_type", "只能上传 JPG、PNG 图片或 PDF 文件")
    upload = Upload(channel=channel, user_id=user_id, unionid=unionid, item_code=item_code, data=data,
                    content_type=content_type)
    try:
        reviewed = await app[keys.AGENT].review_upload(upload)
    except UnknownItem as exc:
        return error(400, "unknown_item", f"没有编码为 {exc.code} 的办事事项")
    except Unreadable as exc:
        return error(400, "unreadable", f"{exc}，请重新拍摄或选择文件")
    poke = app.get(keys.STAFF_POKE)
    if callable(poke):
        poke()  # the console shows the new lines and the card's review at once
    log.info("upload: %s %s, %d bytes, kind %s", channel, content_type, len(data), reviewed.upload.get("kind"))
    return json_reply(body_of(reviewed))


def body_of(reviewed: Reviewed) -> dict[str, Any]:
    """The JSON the clients render: the reply, the review card, what was stored."""
    return {
        "text": reviewed.text, "ai_generated": False, "ai_label": None, "quick_replies": [],
        "cards": [reviewed.card] if reviewed.card else [], "intent": "material_review",
        "item": reviewed.item, "handoff": reviewed.held, "upload": reviewed.upload,
    }


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
                if has_nul(item_code):
                    raise _Refused(error(400, "bad_request", NUL_REFUSED))
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
