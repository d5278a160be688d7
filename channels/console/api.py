"""The console's JSON API: queue, conversation, claim, reply, note, hand back, close, reveal.

Every staff action is audit-logged with `audit.record` under the staff member's name (the
transcript rows and handoff changes are audited by the flush hook besides). Personal data in
every answer is masked (`channels.console.cards`) except in `reveal`, which only supervisors
may call and which is itself logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections import Counter
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from tongban.channels.app import keys
from tongban.channels.app.chat_api import MAX_TEXT, BadInput, TooLarge, error, json_reply, read_json
from tongban.channels.console import outbox
from tongban.channels.console.auth import STAFF, actor
from tongban.channels.console.cards import card, line, masker, revealed, status_of
from tongban.channels.console.scope import (
    may_act,
    may_open_files,
    parse_id,
    sees,
    sees_resident,
    visible,
)
from tongban.memory import audit, progress, transcripts, uploads
from tongban.memory.clock import SHANGHAI
from tongban.memory.models import (
    AuditLog,
    Hall,
    Handoff,
    HandoffStatus,
    Resident,
    TranscriptMessage,
)
from tongban.memory.residents import Identity, identity_of
from tongban.memory.staff import StaffView
from tongban.tools import handoff as handoffs

_AUDIO_TYPES = {"webm": "audio/webm", "ogg": "audio/ogg", "mp3": "audio/mpeg", "wav": "audio/wav",
                "m4a": "audio/mp4", "aac": "audio/aac", "amr": "audio/amr"}


def _person(request: web.Request) -> StaffView:
    return request[STAFF]


def _handoff_id(request: web.Request) -> int | None:
    return parse_id(request.match_info.get("handoff_id"))


# ------------------------------------------------------------------ reading


async def queue(request: web.Request) -> web.StreamResponse:
    """Open conversations in the person's scope (waiting first, longest wait first), optionally
    narrowed to one hall or department."""
    person = _person(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    hall, department = request.query.get("hall") or None, request.query.get("department") or None

    def load() -> list[dict[str, Any]]:
        with store.read_session() as session:
            rows = session.exec(
                select(Handoff).where(col(Handoff.status) != HandoffStatus.CLOSED).order_by(col(Handoff.created_at))
            ).all()
            cards = [_queue_row(session, store.vault, agent, h) for h in rows if sees(session, agent, person, h)]
        cards = [c for c in cards if (not hall or c["hall"] in (hall, None))
                 and (not department or c["department"] in (department, None))]
        return sorted(cards, key=lambda c: (c["status"] != HandoffStatus.WAITING, c["created_at"]))

    return json_reply({"conversations": await asyncio.to_thread(load)})


def _queue_row(session: Session, vault: Any, agent: Any, handoff: Handoff) -> dict[str, Any]:
    row = card(session, vault, agent, handoff)
    last = session.exec(
        select(TranscriptMessage).where(TranscriptMessage.resident_id == handoff.resident_id,
                                        TranscriptMessage.role == "resident")
        .order_by(col(TranscriptMessage.id).desc()).limit(1)
    ).first()
    if last is not None:
        resident = session.get(Resident, handoff.resident_id)
        mask = masker(identity_of(resident, vault) if resident else Identity())
        row["last_message"] = mask(vault.decrypt(last.text_enc) or "")[:80]
    return row


async def conversation(request: web.Request) -> web.StreamResponse:
    person, handoff_id = _person(request), _handoff_id(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]

    def load() -> dict[str, Any] | None:
        with store.read_session() as session:
            handoff = visible(session, agent, person, handoff_id)
            if handoff is None:
                return None
            resident = session.get(Resident, handoff.resident_id)
            mask = masker(identity_of(resident, store.vault) if resident else Identity())
            entries = transcripts.conversation(session, store.vault, handoff.resident_id)
            return {"card": card(session, store.vault, agent, handoff), "messages": [line(e, mask) for e in entries]}

    body = await asyncio.to_thread(load)
    if body is None:
        return error(404, "not_found", "没有这个对话")
    return json_reply(body)


async def audio(request: web.Request) -> web.StreamResponse:
    """A voice message's recording, for staff who may see its conversation; each play is logged."""
    person = _person(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    message_id = parse_id(request.match_info.get("message_id"))
    if message_id is None:
        return error(404, "not_found", "没有这段语音")

    def load() -> tuple[bytes, str] | None:
        with store.session(actor=actor(person)) as session:
            entry = transcripts.get(session, store.vault, message_id)
            if entry is None or entry.audio_ref is None or not sees_resident(session, agent, person, entry.resident_id):
                return None
            found = transcripts.load_audio(session, store.vault, entry.audio_ref,
                                            legacy_dir=store.settings.data_dir)
            if found is not None:
                audit.record(session, action="play_audio", entity="transcript_message", entity_id=str(message_id))
            return found

    found = await asyncio.to_thread(load)
    if found is None:
        return error(404, "not_found", "没有这段语音")
    data, fmt = found
    return web.Response(body=data, content_type=_AUDIO_TYPES.get(fmt, "application/octet-stream"),
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


async def upload(request: web.Request) -> web.StreamResponse:
    """An uploaded material (photo or PDF), for the holder of its resident's handoff or a
    supervisor in scope (`scope.may_open_files`); each view is logged."""
    person = _person(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    upload_id = parse_id(request.match_info.get("upload_id"))
    if upload_id is None:
        return error(404, "not_found", "没有这份材料")

    def load() -> tuple[bytes, str] | None:
        with store.session(actor=actor(person)) as session:
            found = uploads.load(session, store.vault, upload_id)
            if found is None or not may_open_files(session, agent, person, found[2].resident_id):
                return None
            data, content_type, row = found
            audit.record(session, action="view_upload", entity="upload", entity_id=str(upload_id),
                         after={"resident_id": row.resident_id, "item_code": row.item_code})
            return data, content_type

    found = await asyncio.to_thread(load)
    if found is None:
        return error(404, "not_found", "没有这份材料")
    data, content_type = found
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(content_type, "bin")
    return web.Response(body=data, content_type=content_type, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="upload-{upload_id}.{extension}"',
    })


async def figures(request: web.Request) -> web.StreamResponse:
    """Supervisors: handed off today in their scope, median wait until claimed, counts by reason."""
    person = _person(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    today = request.app[keys.CLOCK]().astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)

    def load() -> dict[str, Any]:
        with store.read_session() as session:
            rows = [h for h in session.exec(select(Handoff).where(col(Handoff.created_at) >= today.astimezone(dt.UTC)))
                    if sees(session, agent, person, h)]
        waits = [status_of(h)["waited_s"] for h in rows if h.claimed_at is not None]
        return {
            "date": today.date().isoformat(),
            "handed_off": len(rows),
            "claimed": len(waits),
            "waiting_now": sum(1 for h in rows if h.status == HandoffStatus.WAITING),
            "median_wait_s": statistics.median(waits) if waits else None,
            "by_reason": dict(Counter(h.reason for h in rows).most_common()),
        }

    return json_reply(await asyncio.to_thread(load))


async def alerts(request: web.Request) -> web.StreamResponse:
    """Receipt numbers being guessed (`memory.progress.ABUSE`) in the last day, for the staff of
    the application's hall (an unknown number: every staff member)."""
    person = _person(request)
    store = request.app[keys.STORE]
    since = request.app[keys.CLOCK]().astimezone(dt.UTC) - dt.timedelta(days=1)

    def load() -> list[dict[str, Any]]:
        with store.read_session() as session:
            rows = session.exec(select(AuditLog).where(AuditLog.action == progress.ABUSE, col(AuditLog.at) >= since)
                                .order_by(col(AuditLog.id).desc()).limit(50)).all()
            halls = {h.id: h.name for h in session.exec(select(Hall))}
            shown = []
            for row in rows:
                hall = halls.get((row.after or {}).get("hall_id"))
                if person.may_see(hall, None):
                    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
                    shown.append({"kind": "progress_guessing", "receipt_no": row.entity_id, "hall": hall,
                                  "at": at.isoformat(), "failures": (row.after or {}).get("failures"),
                                  "text": f"受理编号 {row.entity_id} 的进度查询多次验证失败，疑似有人猜测，已自动限速"})
            return shown

    return json_reply({"alerts": await asyncio.to_thread(load)})


# ------------------------------------------------------------------ acting


async def claim(request: web.Request) -> web.StreamResponse:
    """接入: exactly one of several staff clicking at once gets the conversation."""
    person, handoff_id = _person(request), _handoff_id(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]

    def take() -> tuple[bool, Handoff | None]:
        with store.session(actor=actor(person)) as session:
            if visible(session, agent, person, handoff_id) is None:
                return False, None
            won = handoffs.claim(session, handoff_id or 0, staff=person.username)
            if won:
                audit.record(session, action="claim", entity="handoff", entity_id=str(handoff_id))
            handoff = session.get(Handoff, handoff_id) if handoff_id else None
            if handoff is not None:
                session.refresh(handoff)
            return won, handoff

    won, handoff = await asyncio.to_thread(take)
    if handoff is None:
        return error(404, "not_found", "没有这个对话")
    if not won:
        who = f"已被 {handoff.staff} 接入" if handoff.status == HandoffStatus.CLAIMED else "已结束"
        return error(409, "taken", f"该对话{who}")
    await outbox.send(request.app, outbox.target(handoff), f"工作人员（{person.display_name}）已接入，正在为您服务。",
                      role="system", actor=actor(person), staff=person.username, staff_name=person.display_name,
                      status="claimed")
    return json_reply({"claimed": True, **status_of(handoff)})


async def reply(request: web.Request) -> web.StreamResponse:
    return await _write(request, role="staff")


async def note(request: web.Request) -> web.StreamResponse:
    return await _write(request, role="note")


async def _write(request: web.Request, *, role: str) -> web.StreamResponse:
    """A reply to the resident (the holder only) or an internal note (never sent; the holder, or
    anyone in scope while nobody holds it, or a supervisor in scope)."""
    person, handoff_id = _person(request), _handoff_id(request)
    try:
        text = (await read_json(request)).get("text")
    except (BadInput, TooLarge):
        return error(400, "bad_request", "请输入内容")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        return error(400, "bad_request", f"请输入内容（不超过{MAX_TEXT}字）")
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]

    def check() -> tuple[Handoff | None, bool]:
        with store.read_session() as session:
            handoff = visible(session, agent, person, handoff_id)
            return handoff, handoff is not None and may_act(session, agent, person, handoff)

    handoff, allowed = await asyncio.to_thread(check)
    if handoff is None:
        return error(404, "not_found", "没有这个对话")
    if role == "staff" and (handoff.status != HandoffStatus.CLAIMED or handoff.staff != person.username):
        return error(409, "not_yours", "请先接入该对话再回复")
    if not allowed:
        return error(403, "not_yours", f"该对话由 {handoff.staff} 处理中")
    sent = await outbox.send(request.app, outbox.target(handoff), text.strip(), role=role, actor=actor(person),
                             staff=person.username, staff_name=person.display_name, status="claimed")

    def log() -> None:
        with store.session(actor=actor(person)) as session:
            audit.record(session, action="reply" if role == "staff" else "note", entity="handoff",
                         entity_id=str(handoff.id), after={"message_id": sent["id"], "delivered": sent["delivered"]})

    await asyncio.to_thread(log)
    return json_reply({"message": sent})


async def hand_back(request: web.Request) -> web.StreamResponse:
    return await _finish(request, "handed_back", "hand_back", "人工服务已结束，智能助手将继续为您服务，您可以接着提问。")


async def close(request: web.Request) -> web.StreamResponse:
    return await _finish(request, "closed", "close", "本次人工服务已结束，感谢您的耐心。如还有问题，可以直接提问。")


async def _finish(request: web.Request, outcome: str, action: str, notice: str) -> web.StreamResponse:
    """Return the conversation to the bot; its graph thread is untouched, so it goes on from there."""
    person, handoff_id = _person(request), _handoff_id(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]

    def end() -> tuple[str, Handoff | None]:
        with store.session(actor=actor(person)) as session:
            handoff = visible(session, agent, person, handoff_id)
            if handoff is None:
                return "missing", None
            held_by_other = handoff.status == HandoffStatus.CLAIMED and handoff.staff != person.username
            if held_by_other and not person.supervisor:
                return "forbidden", handoff
            if handoffs.finish(session, handoff.id or 0, staff=person.username, outcome=outcome) is None:
                return "closed", handoff
            audit.record(session, action=action, entity="handoff", entity_id=str(handoff.id))
            return "ok", handoff

    result, handoff = await asyncio.to_thread(end)
    if handoff is None:
        return error(404, "not_found", "没有这个对话")
    if result == "forbidden":
        return error(403, "not_yours", f"该对话由 {handoff.staff} 处理中")
    if result == "closed":
        return error(409, "closed", "该对话已结束")
    await outbox.send(request.app, outbox.target(handoff), notice, role="system", actor=actor(person),
                      staff=person.username, status="closed")
    return json_reply({action: True, **status_of(handoff)})


async def reveal(request: web.Request) -> web.StreamResponse:
    """Supervisors in scope only: the resident's identity in full; every reveal is audit-logged."""
    person, handoff_id = _person(request), _handoff_id(request)
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]

    def load() -> dict[str, Any] | None:
        with store.session(actor=actor(person)) as session:
            handoff = visible(session, agent, person, handoff_id)
            resident = session.get(Resident, handoff.resident_id) if handoff else None
            if handoff is None or resident is None:
                return None
            shown = revealed(identity_of(resident, store.vault))
            focus = agent.focus(resident.id or 0)
            if focus.get("phone"):
                shown["given_phone"] = str(focus["phone"])
            audit.record(session, action="reveal", entity="resident", entity_id=str(resident.id),
                         after={"handoff_id": handoff.id, "fields": sorted(k for k, v in shown.items() if v)})
            return shown

    shown = await asyncio.to_thread(load)
    if shown is None:
        return error(404, "not_found", "没有这个对话")
    return json_reply({"resident": shown})
