"""Supervisors' question review: the week's hot topics and unplaced questions, and keywords.

Adding a keyword edits the item in the catalog and refreshes the retrieval index at once, so
the next resident asking the same way lands on the item without waiting for the index check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web
from sqlmodel import select

from tongban.channels.app import keys
from tongban.channels.app.chat_api import error, json_body, json_reply
from tongban.channels.console.auth import STAFF, actor
from tongban.channels.console.scope import sees
from tongban.memory import questions
from tongban.memory.clock import SHANGHAI
from tongban.memory.models import Handoff, ServiceItem


async def report(request: web.Request) -> web.StreamResponse:
    """GET ?week=YYYY-MM-DD (any day of it; default this week)."""
    store = request.app[keys.STORE]
    try:
        day = dt.date.fromisoformat(request.query["week"]) if request.query.get("week") else request.app[keys.CLOCK]().astimezone(SHANGHAI).date()
    except ValueError:
        return error(400, "bad_week", "week 应为 YYYY-MM-DD")

    def load() -> dict[str, Any]:
        with store.read_session() as session:
            body = questions.weekly_report(session, questions.week_of(day))
            body["items"] = [{"code": c, "name": n} for c, n in
                             session.exec(select(ServiceItem.code, ServiceItem.name).order_by(ServiceItem.code))]
            return body

    return json_reply(await asyncio.to_thread(load))


async def add_keyword(request: web.Request) -> web.StreamResponse:
    """POST {item_code, phrase}: the phrase becomes a keyword of the item, searchable at once."""
    person = request[STAFF]
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    given = await _item_and_phrase(request)
    if isinstance(given, web.Response):
        return given
    code, phrase = given

    def save() -> dict[str, Any]:
        with store.session(actor=actor(person)) as session:
            item = questions.add_keyword(session, code, phrase)
            return {"code": item.code, "name": item.name, "keywords": list(item.keywords)}

    try:
        saved = await asyncio.to_thread(save)
    except questions.UnknownItem:
        return error(404, "not_found", "没有这个事项")
    except ValueError as exc:
        return error(400, "bad_phrase", str(exc))
    await asyncio.to_thread(agent.refresh_index)
    return json_reply({"item": saved})


async def learned(request: web.Request) -> web.StreamResponse:
    """GET: every learned phrase, with its item, who added it, when and from where."""
    store = request.app[keys.STORE]

    def load() -> list[dict[str, Any]]:
        with store.read_session() as session:
            return questions.learned(session)

    return json_reply({"learned": await asyncio.to_thread(load)})


async def remove_learned(request: web.Request) -> web.StreamResponse:
    """POST {item_code, phrase}: the learned phrase comes off its item, searchable no more."""
    person = request[STAFF]
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    given = await _item_and_phrase(request)
    if isinstance(given, web.Response):
        return given
    code, phrase = given

    def remove() -> dict[str, Any]:
        with store.session(actor=actor(person)) as session:
            item = questions.remove_keyword(session, code, phrase)
            return {"code": item.code, "name": item.name, "keywords": list(item.keywords)}

    try:
        saved = await asyncio.to_thread(remove)
    except questions.NotLearned:
        return error(404, "not_found", "没有这条学到的说法")
    await asyncio.to_thread(agent.index.refresh, force=True)
    return json_reply({"item": saved})


async def correct(request: web.Request) -> web.StreamResponse:
    """POST {item_code, phrase} on a handoff in the person's scope: “这个问题应该是 X 事项”. The
    resident's phrase becomes a keyword of X, attributed to the staff member and the handoff,
    searchable at once."""
    person = request[STAFF]
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    try:
        handoff_id = int(request.match_info["handoff_id"])
    except (KeyError, ValueError):
        return error(404, "not_found", "没有这个对话")
    given = await _item_and_phrase(request)
    if isinstance(given, web.Response):
        return given
    code, phrase = given

    def save() -> dict[str, Any] | None:
        with store.session(actor=actor(person)) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None or not sees(session, agent, person, handoff):
                return None  # another hall's conversation is not there for this person
            item = questions.add_keyword(session, code, phrase, source=f"handoff:{handoff_id}")
            return {"code": item.code, "name": item.name, "keywords": list(item.keywords)}

    try:
        saved = await asyncio.to_thread(save)
    except questions.UnknownItem:
        return error(404, "not_found", "没有这个事项")
    except ValueError as exc:
        return error(400, "bad_phrase", str(exc))
    if saved is None:
        return error(404, "not_found", "没有这个对话")
    await asyncio.to_thread(agent.index.refresh, force=True)
    return json_reply({"item": saved})


async def _item_and_phrase(request: web.Request) -> tuple[str, str] | web.Response:
    """The `{item_code, phrase}` body the keyword, correction and removal routes share, or the
    error answer for a body that is too large or not JSON."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    return str(body.get("item_code") or ""), str(body.get("phrase") or "")
