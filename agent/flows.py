"""The flow stack and the deterministic executor of repair commands.

A booking waiting for its confirmation, a change or a cancellation waiting for theirs, or an
appointment booked a moment ago is a *frame* on the stack. When the resident answers with
something other than yes or no, the brain emits commands (`agent.commands`) and `execute`
turns them into the turn's plan: a correction re-plans the write with exactly the changed
values (the tool then asks for a fresh confirmation), a digression is answered while the frame
stays and its confirmation is asked again, a topic switch closes the frame. Nothing here
confirms anything: only the confirm node turns a resident's yes into a `Confirmation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tongban.agent.brains.base import BrainContext
from tongban.agent.brains.slots import match_hall
from tongban.agent.commands import Command, Slots
from tongban.agent.state import ConversationState, Flow, Frame

FLOW_OF_TOOL: dict[str, Flow] = {"book_appointment": "book_appointment",
                                 "reschedule_appointment": "change_appointment",
                                 "cancel_appointment": "cancel_appointment"}
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def suspend(state: ConversationState) -> list[Frame]:
    """The stack once the resident answered a confirmation question with something else."""
    pending = state.get("pending") or {}
    call = pending.get("call") or {}
    flow = FLOW_OF_TOOL.get(call.get("name", ""))
    if flow is None:  # forms and erasure: a new request simply replaces them, as before
        return []
    args = call.get("args") or {}
    focus = state.get("focus") or {}
    slots: Slots = {k: args[k] for k in ("item_code", "hall", "date", "period", "time") if args.get(k)}  # type: ignore[misc]
    return [{"flow": flow, "item": focus.get("item"), "slots": slots,
             "appointment_id": args.get("appointment_id"), "pending": pending}]


def booked(appointment: dict[str, Any], item: dict[str, str] | None) -> Frame:
    """An appointment just made or moved: for one more turn, 约错了 refers to it."""
    slots: Slots = {"hall": appointment["hall"], "date": appointment["date"], "period": appointment["period"]}
    return {"flow": "booked", "item": item or {"name": appointment["item"]}, "slots": slots,
            "appointment_id": appointment["id"], "pending": None}


def merge(old: Slots, new: Slots) -> Slots:
    """Exactly the changed values: a new half-day drops an old clock time, a new day keeps both."""
    merged: Slots = {**old, **new}  # type: ignore[typeddict-item]
    if "period" in new and "time" not in new:
        merged.pop("time", None)
    return merged


def checked(slots: Slots, ctx: BrainContext) -> Slots:
    """Values from a model are used only when they are valid: a known item, hall and time."""
    out: Slots = {}
    if (code := slots.get("item_code")) and code in ctx.items:
        out["item_code"] = code
    if hall := slots.get("hall"):
        ref = match_hall(hall, ctx.halls)
        if ref is not None:
            out["hall"] = ref.name
    if slots.get("date"):
        out["date"] = slots["date"]
    if slots.get("period") in ("上午", "下午"):
        out["period"] = slots["period"]
    if (time := slots.get("time")) and _TIME.match(time):
        out["time"] = time
        out.setdefault("period", "上午" if time < "13:00" else "下午")
    return out


Understand = Callable[[ConversationState], dict[str, Any]]


def execute(commands: list[Command], frame: Frame, state: ConversationState, ctx: BrainContext,
            understand: Understand) -> dict[str, Any] | None:
    """The turn's decision for these commands; None when they say nothing about the frame."""
    decision: dict[str, Any] | None = None
    closed = False
    for cmd in commands:
        name = cmd["command"]
        if name == "hand_off":
            return {**_fresh(state, understand), "stack": []}
        if name == "cancel_flow":
            closed = True
            decision = {"intent": "declined", "plan": [], "stack": [],
                        "focus": {"task": None, "missing": None, "declined": _action(frame)}}
        elif name == "start_flow":  # a topic switch: the old task is closed, the new one answered
            return {**_fresh(state, understand, text=cmd.get("text"), item=None), "stack": []}
        elif name in ("set_slots", "change_appointment"):
            decision = _correct(frame, checked(cmd.get("slots") or {}, ctx), ctx)
        elif name == "cancel_appointment" and frame.get("appointment_id"):
            decision = {"intent": "cancel_appointment", "stack": [],
                        "focus": {"task": "cancel_appointment", "cancel_target": frame["appointment_id"],
                                  "item": frame.get("item")},
                        "plan": [{"name": "cancel_appointment", "args": {"appointment_id": frame["appointment_id"]}}]}
        elif name == "digress" and not closed:
            about = checked(cmd.get("slots") or {}, ctx).get("item_code")
            decision = _digress(cmd.get("kind", "question"), frame, state, understand,
                                {"code": about, "name": ctx.items[about]} if about else None)
        elif name == "cannot_handle" and frame["flow"] != "booked" and not closed:
            decision = cannot_handle(frame)
        elif name == "clarify":
            # which value? one question; the frame and its confirmation stay as they were
            decision = {"intent": "repair", "plan": [], "stack": [frame], "resume": frame.get("pending"),
                        "focus": {"repair": f"which_{cmd['about']}" if cmd.get("about") else "which"}}
    return decision


def cannot_handle(frame: Frame) -> dict[str, Any]:
    """Rasa's "cannot handle": one short line, and the task's confirmation asked again."""
    return {"intent": "out_of_scope", "plan": [], "stack": [frame], "resume": frame.get("pending"),
            "focus": {"digression": "cannot_handle"}}


def unhandled(decision: dict[str, Any], frame: Frame) -> dict[str, Any]:
    """A message that is neither about the task nor a request we can serve (今日热到死):
    like Rasa's "cannot handle", it leaves the task waiting and asks its confirmation again. A
    refusal (someone else's data, an attack) still closes it."""
    focus = decision.get("focus") or {}
    if (decision.get("intent") != "out_of_scope" or focus.get("refusal") or focus.get("kb_miss")
            or frame["flow"] == "booked" or not frame.get("pending")):
        return decision
    # the task is what the turn is about: one short line, not the whole list of what we can do
    return {**decision, "stack": [frame], "resume": frame["pending"],
            "focus": {**focus, "digression": "cannot_handle"}}


def _correct(frame: Frame, slots: Slots, ctx: BrainContext) -> dict[str, Any] | None:
    if not slots:
        return None
    merged = merge(frame.get("slots") or {}, slots)
    item = frame.get("item") or {}
    if code := slots.get("item_code"):
        item = {"code": code, "name": ctx.items.get(code, "")}
    focus: dict[str, Any] = {"item": item or None, "hall": merged.get("hall"), "date": merged.get("date"),
                             "period": merged.get("period"), "time": merged.get("time"), "missing": None,
                             "corrected": sorted(slots)}
    if frame["flow"] == "book_appointment":
        args = {"item_code": item.get("code") or merged.get("item_code"), **{
            k: merged[k] for k in ("hall", "date", "period", "time") if merged.get(k)}}  # type: ignore[literal-required]
        return {"intent": "book_appointment", "stack": [], "focus": {**focus, "task": "book_appointment"},
                "plan": [{"name": "book_appointment", "args": args}]}
    if frame["flow"] in ("booked", "change_appointment") and frame.get("appointment_id"):
        if "item_code" in slots:  # another item is another appointment: not a change of this one
            return None
        args = {"appointment_id": frame["appointment_id"], **{
            k: merged[k] for k in ("hall", "date", "period", "time") if merged.get(k)}}  # type: ignore[literal-required]
        return {"intent": "change_appointment", "stack": [],
                "focus": {**focus, "task": "change_appointment", "change_target": frame["appointment_id"]},
                "plan": [{"name": "reschedule_appointment", "args": args}]}
    return None


def _digress(kind: str, frame: Frame, state: ConversationState, understand: Understand,
             about: dict[str, str] | None = None) -> dict[str, Any]:
    """Answer the aside; the frame stays, and its confirmation is asked again after the answer.
    A question is about the item it names (`about`), else about the task's own."""
    keep = [frame] if frame["flow"] != "booked" else []
    resume = frame.get("pending") if frame["flow"] != "booked" else None
    if kind in ("chitchat", "hesitate"):
        return {"intent": "chitchat", "plan": [], "focus": {"digression": kind}, "stack": keep, "resume": resume}
    # a question goes on about the task's item unless it names another; a progress query does not
    decision = _fresh(state, understand, item=(about or frame.get("item")) if kind == "question" else None)
    focus = decision.get("focus") or {}
    if (decision.get("intent") == "out_of_scope" and resume and not focus.get("refusal")
            and not focus.get("kb_miss")):  # 你觉得边队会赢: nothing we serve, the task goes on
        focus = {**focus, "digression": "cannot_handle"}
    return {**decision, "focus": focus, "stack": keep, "resume": resume}


_KEEP = object()


def _fresh(state: ConversationState, understand: Understand, *, text: str | None = None,
           item: Any = _KEEP) -> dict[str, Any]:
    """The brain's ordinary understanding of the message (or of its part `text`), outside the
    suspended task; `item` is what a follow-up question would be about (None: nothing)."""
    focus = {**(state.get("focus") or {}), "task": None, "missing": None}
    if item is not _KEEP:
        focus["item"] = item
    view: ConversationState = {**state, "focus": focus}
    if text:
        view["turn"] = {**state["turn"], "text": text}
    decision = understand(view)
    carried = {"item": item} if item is not _KEEP else {}
    return {**decision, "focus": {"task": None, "missing": None, **carried, **decision.get("focus", {})}}


def _action(frame: Frame) -> str:
    return {"book_appointment": "book", "cancel_appointment": "cancel"}.get(frame["flow"], "change")
