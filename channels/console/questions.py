"""Supervisors' question review: the week's hot topics and unplaced questions, and keywords.

Adding a keyword edits the item in the catalog and refreshes the retrieval index at once, so
the next resident asking the same way lands on the item without waiting for the index check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlmodel import select

from tongban.channels.app import keys
from tongban.channels.app.chat_api import error, json_body, json_reply
from tongban.channels.console.auth import STAFF, actor
from tongban.channels.console.scope import parse_id, visible
from tongban.memory import questions
from tongban.memory.clock import SHANGHAI
from tongban.memory.models import ServiceItem


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

    try:
        return json_reply(await asyncio.to_thread(load))
    except OverflowError:  # a week at the calendar's edge: its Beijing midnight is not a datetime
        return error(400, "bad_week", "week 应为 YYYY-MM-DD")


async def add_keyword(request: web.Request) -> web.StreamResponse:
    """POST {item_code, phrase}: the phrase becomes a keyword of the item, searchable at once."""
    return await _change_keywords(request, questions.add_keyword)


async def learned(request: web.Request) -> web.StreamResponse:
    """GET: every learned phrase, with its item, who added it, when and from where."""
    store = request.app[keys.STORE]

    def load() -> list[dict[str, Any]]:
        with store.read_session() as session:
            return questions.learned(session)

    return json_reply({"learned": await asyncio.to_thread(load)})


async def remove_learned(request: web.Request) -> web.StreamResponse:
    """POST {item_code, phrase}: the learned phrase comes off its item, searchable no more."""
    return await _change_keywords(request, questions.remove_keyword)


async def correct(request: web.Request) -> web.StreamResponse:
    """POST {item_code, phrase} on a handoff in the person's scope: “这个问题应该是 X 事项”. The
    resident's phrase becomes a keyword of X, attributed to the staff member and the handoff,
    searchable at once."""
    person = request[STAFF]
    agent = request.app[keys.AGENT]
    handoff_id = parse_id(request.match_info.get("handoff_id"))
    if handoff_id is None:
        return error(404, "not_found", "没有这个对话")

    def teach(session: Any, code: str, phrase: str) -> ServiceItem:
        if visible(session, agent, person, handoff_id) is None:
            raise _NoConversation  # another hall's conversation is not there for this person
        return questions.add_keyword(session, code, phrase, source=f"handoff:{handoff_id}")

    return await _change_keywords(request, teach)


class _NoConversation(LookupError):
    """The handoff a correction names does not exist or is outside the person's scope."""


Change = Callable[[Any, str, str], ServiceItem]
REFUSALS: tuple[tuple[type[Exception], int, str, str | None], ...] = (
    # (what the change raised, status, error code, message: None for the exception's own)
    (_NoConversation, 404, "not_found", "没有这个对话"),
    (questions.UnknownItem, 404, "not_found", "没有这个事项"),
    (questions.NotLearned, 404, "not_found", "没有这条学到的说法"),
    (ValueError, 400, "bad_phrase", None),
)


async def _change_keywords(request: web.Request, change: Change) -> web.StreamResponse:
    """What the keyword, removal and correction routes share: read `{item_code, phrase}`, make the
    change as the signed-in person (audited), refresh the index so it counts at once, and answer
    the item's keywords now, or the refusal its exception maps to."""
    person = request[STAFF]
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    given = await _item_and_phrase(request)
    if isinstance(given, web.Response):
        return given
    code, phrase = given

    def save() -> dict[str, Any]:
        with store.session(actor=actor(person)) as session:
            item = change(session, code, phrase)
            return {"code": item.code, "name": item.name, "keywords": list(item.keywords)}

    try:
        saved = await asyncio.to_thread(save)
    except tuple(kind for kind, *_ in REFUSALS) as exc:
        status, kind, message = next((s, k, m) for e, s, k, m in REFUSALS if isinstance(exc, e))
        return error(status, kind, message or str(exc))
    await asyncio.to_thread(agent.refresh_index)
    return json_reply({"item": saved})


async def _item_and_phrase(request: web.Request) -> tuple[str, str] | web.Response:
    """The `{item_code, phrase}` body the keyword, correction and removal routes share, or the
    error answer for a body that is too large or not JSON."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    return str(body.get("item_code") or ""), str(body.get("phrase") or "")
