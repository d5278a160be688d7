"""Download of a pre-filled application form: `GET /forms/{token}.pdf`, for its owner only.

The token in the address is unguessable (192 bits), and it is not enough: the request must also
say who the resident is — the web chat's signed cookie or the mini-program's Bearer token — and
that resident must own the form. Another resident's token, a draft nobody confirmed and an
unknown token all get the same 404. Staff print a form at `/console/api/forms/{token}.pdf`
while they hold (have claimed) a handoff of its owner, and supervisors whose scope covers one
(`channels.console.scope.may_open_files`). Every download is audit-logged.

公众号 and SMS residents have neither cookie nor token in a browser; for them the reply says to
open the link in the web chat or the mini-program (WeChat web authorisation is not wired yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session, select

from tongban.channels.app import keys
from tongban.channels.app.chat_api import error
from tongban.channels.app.tokens import InvalidToken
from tongban.channels.console import auth
from tongban.channels.console.scope import may_open_files
from tongban.channels.web import chat as web_chat
from tongban.channels.wechat.miniprogram import chat as miniprogram
from tongban.memory import audit, forms
from tongban.memory.channel import Channel
from tongban.memory.models import (
    FormFill,
    FormFillStatus,
    ServiceItem,
)
from tongban.memory.residents import find
from tongban.tools.form_font import FontMissing
from tongban.tools.forms import pdf_of

TOKEN = r"{token:[A-Za-z0-9_-]{16,64}}"
NOT_FOUND = "没有找到这份申请表，或您无权查看。请在填写它的通办聊天（网页或小程序）中打开链接。"


def setup(app: web.Application) -> None:
    app.router.add_get(f"/forms/{TOKEN}.pdf", resident_download)
    app.router.add_get(f"/console/api/forms/{TOKEN}.pdf", auth.require(staff_download))


def _resident_of(request: web.Request) -> tuple[Channel, str] | None:
    """(channel, channel id) of the resident this request speaks for, if it says."""
    if request.headers.get("Authorization"):
        try:
            return Channel.MINIPROGRAM, miniprogram.claims_of(request)["sub"]
        except InvalidToken:
            return None
    web_id = web_chat.web_id_of(request)
    return (Channel.WEB, web_id) if web_id else None


async def resident_download(request: web.Request) -> web.StreamResponse:
    who = _resident_of(request)
    if who is None:
        return error(401, "unauthorized", "请在通办网页聊天或小程序中打开这份申请表")
    channel, user_id = who
    vault = request.app[keys.STORE].vault

    def owns(session: Session, fill: FormFill) -> bool:
        resident = find(session, vault, channel=channel, user_id=user_id)
        return resident is not None and resident.id == fill.resident_id

    return await _download(request, f"resident:{channel}:{user_id[-6:]}", owns)


async def staff_download(request: web.Request) -> web.StreamResponse:
    person, agent = request[auth.STAFF], request.app[keys.AGENT]

    def holds(session: Session, fill: FormFill) -> bool:
        return may_open_files(session, agent, person, fill.resident_id)

    return await _download(request, auth.actor(person), holds)


async def _download(request: web.Request, actor: str, allowed: Callable[[Session, FormFill], bool]) -> web.StreamResponse:
    store = request.app[keys.STORE]
    token = request.match_info["token"]

    def load() -> tuple[bytes, str] | None:
        with store.session(actor=actor) as session:
            fill = forms.by_token(session, token)
            if fill is None or fill.status != FormFillStatus.CONFIRMED or not allowed(session, fill):
                return None
            name = session.exec(select(ServiceItem.name).where(ServiceItem.code == fill.item_code)).first()
            pdf = pdf_of(session, store.vault, fill)
            audit.record(session, action="download_form", entity="form_fill", entity_id=str(fill.id))
            return pdf, f"{name or fill.item_code}申请表.pdf"

    try:
        found = await asyncio.to_thread(load)
    except FontMissing:
        return error(503, "font_missing", "申请表暂时无法生成（服务器缺少中文字体），请联系管理员")
    if found is None:
        return error(404, "not_found", NOT_FOUND)
    pdf, filename = found
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    })
