"""Which template answers a `Reply`: chosen from its intent, cards and tool results, never its text.

The agent writes for chat windows; SMS may carry only approved templates. So the reply's
structured parts pick one template and supply its short variables (item, hall, time, codes);
the reply's free text is never sent. Whatever has no template gets the menu fallback.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tongban.agent.messages import Reply, ToolCall
from tongban.tools.handoff import when_staff_answer


@dataclass(frozen=True)
class Choice:
    key: str
    values: dict[str, str]


def choose(reply: Reply, *, public_url: str, now: dt.datetime | None = None) -> Choice | None:
    """The template for this reply; None when nothing is to be sent (staff hold the chat).

    `now` (the agent's clock) says whether staff are at work: handed off outside their hours,
    the resident is told when someone will answer."""
    if reply.handoff and not reply.text:
        return None
    if reply.handoff:
        later = when_staff_answer(now) if now is not None else None
        return Choice("handoff_later", {"when": later}) if later else Choice("handoff", {})
    pending = _call(reply, needs_confirmation=True)
    if pending is not None:
        return _confirm(reply, pending)
    card = reply.cards[0] if reply.cards else None
    if card and card.get("type") == "appointment":
        return Choice("booked", _appointment(card))
    if card and card.get("type") == "progress":
        return Choice("progress", {"receipt": card["receipt_no"], "item": card["item"], "status": card["status"]})
    if card and card.get("type") == "item":
        return Choice("item", {"item": card["name"], "url": f"{public_url}/items/{card['code']}"})
    if card and card.get("type") == "kb":  # a policy answer: its first words and the full text's page
        return Choice("kb", {"summary": card.get("summary") or card.get("title") or "政策问答",
                             "url": f"{public_url}/kb/{card['key']}"})
    return _by_intent(reply)


def _by_intent(reply: Reply) -> Choice:
    intent = reply.intent
    if intent == "book_appointment":
        return _booking_step(reply)
    if intent == "cancel_appointment":
        done = _call(reply, "cancel_appointment")
        if done is not None and done.status == "success" and reply.item:
            return Choice("cancelled", {"item": reply.item})
        if reply.quick_replies:  # several appointments: which one?
            return Choice("cancel_which", {"item": reply.quick_replies[0]})
        return Choice("no_appointment", {})
    if intent == "query_progress":
        return Choice("progress_check" if _call(reply, "query_progress") else "progress_ask", {})
    if intent == "my_appointments":
        return Choice("no_appointment", {}) if "预约办理" in reply.quick_replies else Choice("fallback", {})
    if intent == "chitchat":
        return Choice("menu", {})
    if intent is None and reply.quick_replies:  # a declined confirmation
        return Choice("declined", {})
    return Choice("fallback", {})


def _booking_step(reply: Reply) -> Choice:
    refused = _call(reply, "book_appointment")
    if refused is not None and refused.status == "refused" and reply.item:
        return Choice("book_refused", {"item": reply.item, "time": (reply.quick_replies or ["其他工作日"])[0]})
    if refused is not None or not reply.item:
        return Choice("book_item", {}) if refused is None else Choice("fallback", {})
    if any(_looks_like_time(q) for q in reply.quick_replies):
        return Choice("book_date", {"item": reply.item})
    return Choice("book_hall", {"item": reply.item, "hall": (reply.quick_replies or ["南宁市民中心"])[0]})


def _confirm(reply: Reply, call: ToolCall) -> Choice:
    if call.name == "book_appointment":
        args = call.args
        return Choice("book_confirm", {
            "item": reply.item or "", "hall": str(args.get("hall") or ""),
            "time": _day(str(args.get("date", ""))) + str(args.get("period") or ""),
        })
    if call.name == "cancel_appointment" and reply.item:
        return Choice("cancel_confirm", {"item": reply.item})
    return Choice("fallback", {})


def _appointment(card: dict[str, Any]) -> dict[str, str]:
    return {
        "item": card["item"], "hall": card["hall"], "code": card["confirmation_code"],
        "time": f"{_day(card['date'])}{card.get('period', '')}{card.get('start', '')}",
    }


def _call(reply: Reply, name: str | None = None, *, needs_confirmation: bool = False) -> ToolCall | None:
    for call in reversed(reply.tool_calls):
        if name is not None and call.name != name:
            continue
        if needs_confirmation and call.result != "needs_confirmation":
            continue
        return call
    return None


def _day(iso: str) -> str:
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{day.month}月{day.day}日"


def _looks_like_time(text: str) -> bool:
    return any(word in text for word in ("上午", "下午", "明天", "后天", "月", "周"))
