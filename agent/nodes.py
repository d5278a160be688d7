"""One function per node; each returns a partial update of the conversation state."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from tongban.agent import flows, hearing, questions
from tongban.agent.brains.replies import reask
from tongban.agent.forms import form_offer as form_offer_text
from tongban.agent.forms import form_progress
from tongban.agent.runtime import TurnRuntime
from tongban.agent.sealing import masked_args, seal, unseal
from tongban.agent.state import RESET, ConversationState, Frame
from tongban.agent.toolbox import run_tool
from tongban.agent.verdict import verdict as read_verdict
from tongban.memory import residents
from tongban.memory.pii import mask_text
from tongban.tools.confirmation import Confirmation
from tongban.tools.life_events import offer_line, recommend

HISTORY = 20  # messages kept in the checkpoint; older ones are dropped
WRITES = ("book_appointment", "cancel_appointment", "reschedule_appointment")
WHICH = ("which", "which_hall", "which_date", "which_time")  # the agent asked what to change (to)
REPAIR_FOCUS = ("digression", "corrected", "repair")  # what the last repair did, for this turn's reply
PER_TURN_FOCUS = (*REPAIR_FOCUS, "aspect", "refusal", "missing", "data_action", "cancel_target", "cancel_item", "cancel_names", "declined",
                  "question", "date_said", "form_action", "kb_first", "kb_miss")


def understand(state: ConversationState, runtime: Runtime[TurnRuntime]) -> dict[str, Any]:
    """Read the resident's message (or the last tool results) and plan what to do."""
    run = runtime.context
    first = state.get("steps", 0) == 0
    state = {**state, "focus": unseal(state.get("focus") or {}, run.tools.vault)}
    said = state["turn"]["text"]
    screened: dict[str, Any] = {}
    if first:  # a doubtful transcript is read back before anything is done with it
        screened, turn = hearing.screen(state)
        if turn is None:
            return {**screened, "messages": [HumanMessage(mask_text(said))]}
        state = {**state, "turn": turn}
    stack = state.get("stack") or []
    decision = _repair(state, stack[-1], run) if first and stack else None
    if decision is None:
        decision = {**_understand(state, run), "stack": []}
        if first and stack:
            decision = flows.unhandled(decision, stack[-1])
    update: dict[str, Any] = {"plan": decision.get("plan", []), "more": bool(decision.get("more"))}
    for key in ("stack", "resume"):
        if key in decision:
            update[key] = decision[key]
    if "intent" in decision:
        update["intent"] = decision["intent"]
    focus = decision.get("focus", {})
    if first:
        focus = {**dict.fromkeys(PER_TURN_FOCUS), **screened.get("focus", {}), **focus}
        update["messages"] = [HumanMessage(decision.get("said") or mask_text(said))]
        if state["turn"]["text"] != said:
            update["turn"] = state["turn"]  # the confirmed transcript is what this turn is about
        if decision.get("said"):  # a personal form answer: the tool has it, the checkpoint must not
            update["turn"] = {**state["turn"], "text": decision["said"]}
    update["focus"] = focus
    if "brain" in decision:
        update["brain"] = decision["brain"]
    if first:
        update["placement"] = decision.get("placement", {})
    if decision.get("ai"):  # the model wrote the answer itself
        update["reply"] = {**decision["reply"], "ai_generated": True}
    return update


def _understand(state: ConversationState, run: TurnRuntime) -> dict[str, Any]:
    try:
        return run.brain.understand(state, run.brain_ctx)
    except Exception:
        if run.fallback is None:
            raise
        return {**run.fallback.understand(state, run.brain_ctx), "brain": run.fallback.name}


def _repair(state: ConversationState, frame: Frame, run: TurnRuntime) -> dict[str, Any] | None:
    """A message that answers a suspended task with something else than yes or no: the brain
    says what it does as commands, the executor turns them into the turn's plan."""
    brain = run.brain
    try:
        commands = brain.repair(state, frame, run.brain_ctx)
    except Exception:
        if run.fallback is None:
            raise
        brain = run.fallback
        commands = brain.repair(state, frame, run.brain_ctx)
    if not commands:
        return None

    def understand(view: ConversationState) -> dict[str, Any]:
        return _understand(view, run)

    decision = flows.execute(commands, frame, state, run.brain_ctx, understand)
    if decision is not None and brain is not run.brain:
        decision["brain"] = brain.name
    return decision


def call_tools(state: ConversationState, runtime: Runtime[TurnRuntime]) -> dict[str, Any]:
    """Run the planned calls through the gated toolbox; a needed confirmation becomes pending."""
    run = runtime.context
    ctx = run.tools
    confirmation = state.get("confirmation")
    ctx.confirmation = Confirmation(confirmation["action"], confirmation["digest"]) if confirmation else None
    results: list[dict[str, Any]] = []
    pending = None
    for call in state.get("plan", []):
        # a confirmed write replays its pending nonce, so a retried or resumed run has no second effect
        nonce = (state.get("pending") or {}).get("nonce") or uuid.uuid4().hex
        ctx.idempotency_key = f"{run.thread_id}:{nonce}"
        result = run_tool(ctx, call["name"], call.get("args", {}))
        result = {**result, "args": masked_args(result.get("args") or {}), "id": call.get("id")}
        results.append(result)
        if result["status"] == "needs_confirmation":
            pending = {**result, "call": call, "nonce": nonce}
            break
    ctx.confirmation = None
    return {"results": results, "plan": RESET, "pending": pending, "confirmation": None,
            "steps": state.get("steps", 0) + 1}


def hand_off(state: ConversationState, runtime: Runtime[TurnRuntime]) -> dict[str, Any]:
    """Queue the conversation for staff; from now on the bot stays silent."""
    return call_tools(state, runtime)


def respond(state: ConversationState, runtime: Runtime[TurnRuntime]) -> dict[str, Any]:
    run = runtime.context
    prepared = state.get("reply") or {}
    pending = state.get("pending")
    if prepared.get("text") and not pending and (prepared.get("ai_generated") or prepared.get("final")):
        reply = prepared
    else:
        reply = run.brain.compose(state, run.brain_ctx)
    results = state.get("results", [])
    handed_off = any(r["name"] == "handoff" and r["status"] == "success" for r in results)
    done = any(r["status"] == "success" and r["name"] in WRITES for r in results) or any(
        r["name"] == "query_progress" and r.get("data", {}).get("outcome") == "disclosed" for r in results)
    resume = state.get("resume") if not pending and not handed_off else None
    focus_now = state.get("focus") or {}
    if resume and not focus_now.get("repair") and not (focus_now.get("choices") and not state.get("results")):
        # (a question back — which value, which item — is the turn's one question: no re-ask)
        # an aside answered: the suspended confirmation is asked again, unchanged
        reply = {**reply, "text": f"{reply['text']}\n{reask(resume, state['turn'].get('elderly', False))}",
                 "quick_replies": ["确认", "取消"]}
    if resume:
        pending = resume
    offers = [] if pending else _offers(state, run)
    if offers:
        reply = {**reply, "text": f"{reply['text']}\n{offer_line(offers)}"}
    form_offer = None if pending else _form_offer(state)
    if form_offer:
        reply = {**reply, "text": f"{reply['text']}\n{form_offer_text(run.brain_ctx.verified)}",
                 "quick_replies": [*reply.get("quick_replies", []), "帮我填表"]}
    _remember(state, run)
    logged = questions.log_turn(state, run.tools)
    messages = state.get("messages", [])
    trim = [RemoveMessage(id=m.id) for m in messages[: max(0, len(messages) + 1 - HISTORY)] if m.id]
    update: dict[str, Any] = {
        "reply": {**reply, "handoff": handed_off},
        "messages": [*trim, AIMessage(reply["text"])],
        "resume": None,
    }
    if resume:
        update["pending"] = resume
    made = next((r for r in results if r["status"] == "success" and r["name"] in ("book_appointment", "reschedule_appointment")), None)
    if made is not None:  # 约错了 in the next message is about this appointment
        update["stack"] = [flows.booked(made["data"]["appointment"], (state.get("focus") or {}).get("item"))]
    focus: dict[str, Any] = {}
    if offers:
        focus["offered"] = [*(state.get("focus") or {}).get("offered", []), *offers]
    if done or handed_off:
        focus["task"] = None
    if form_offer:
        focus["form_offered"] = [*(state.get("focus") or {}).get("form_offered", []), form_offer]
    focus.update(form_progress(state))
    if logged is not None:
        focus["unplaced"] = logged or None
    # the turn ends here (or pauses for a confirmation): what the checkpoint keeps is sealed or masked
    focus.update(seal({**(state.get("focus") or {}), **focus}, run.tools.vault))
    update["turn"] = {**state["turn"], "text": mask_text(state["turn"]["text"])}
    if focus:
        update["focus"] = focus
    return update


def _answered_item(state: ConversationState) -> str | None:
    """The item this turn answered (a lookup) or booked, if any."""
    for result in reversed(state.get("results", [])):
        if result["status"] != "success":
            continue
        if result["name"] == "book_appointment":
            return result["data"]["appointment"]["item"]
        if result["name"] == "service_detail" and state.get("intent") == "service_lookup":
            return result["data"].get("name")
    return None


def _form_offer(state: ConversationState) -> str | None:
    """A looked-up item with an application form: offer to pre-fill it, once per conversation."""
    if state.get("intent") != "service_lookup":
        return None
    detail = next((r.get("data") or {} for r in reversed(state.get("results", []))
                   if r["name"] == "service_detail" and r["status"] == "success"), {})
    code = detail.get("code")
    offered = (state.get("focus") or {}).get("form_offered", [])
    return code if detail.get("form_fields") and code not in offered else None


def _offers(state: ConversationState, runtime: TurnRuntime) -> list[str]:
    """高效办成一件事: the next items of the item's life events, never offered twice."""
    item = _answered_item(state)
    if item is None:
        return []
    ctx = runtime.tools
    offered = set((state.get("focus") or {}).get("offered", []))
    return recommend(ctx.session, ctx.resident, item, offered=offered)


def confirm(state: ConversationState, runtime: Runtime[TurnRuntime]) -> dict[str, Any]:
    """Wait for the resident's answer to the confirmation question, then act on it.

    Only an explicit yes to exactly the pending action confirms it; anything else suspends the
    action on the flow stack, for the brain's repair commands to correct, set aside or close."""
    answer = interrupt({"question": (state.get("reply") or {}).get("text", "")})
    pending = state["pending"] or {}
    turn = {**state["turn"], **answer}
    base = {"turn": turn, "results": RESET, "steps": 0, "reply": {}, "brain": "offline", "placement": None,  # confirmed writes: no model
            "resume": None, "focus": dict.fromkeys(REPAIR_FOCUS)}
    call = pending.get("call") or {}
    ctx = runtime.context.brain_ctx
    offered = str(pending.get("offered") or pending.get("summary") or "")  # a change: its new slot only
    code = (call.get("args") or {}).get("item_code") or ((state.get("focus") or {}).get("item") or {}).get("code")
    verdict = read_verdict(turn["text"], pending.get("action", ""), names=_names(state, runtime.context),
                           item=ctx.items.get(code or "", ""), offered=offered, now=ctx.now, halls=ctx.halls)
    if verdict == "yes" and (state.get("focus") or {}).get("repair") in WHICH:
        # 您要改哪一项？ — 对的 agrees that something is wrong without saying what: nothing is
        # confirmed, the question stays open (once; a yes to it books the offer as it stands)
        return {**base, "pending": None, "resume": pending, "stack": flows.suspend(state), "plan": [],
                "focus": {**base["focus"], "repair": "which_again"}, "messages": [HumanMessage(mask_text(turn["text"]))]}
    if verdict == "yes":
        return {**base, "confirmation": {"action": pending["action"], "digest": pending["digest"]},
                "plan": [call], "pending": {**pending}, "stack": [], "intent": INTENT_OF_WRITE.get(call.get("name", ""), state.get("intent")),
                "messages": [HumanMessage(mask_text(turn["text"]))]}
    if verdict == "no":
        return {**base, "pending": None, "intent": "declined",
                "focus": {**base["focus"], "task": None, "declined": pending.get("action")},
                "stack": [], "messages": [HumanMessage(mask_text(turn["text"]))]}
    return {**base, "pending": None, "stack": flows.suspend(state)}


INTENT_OF_WRITE = {"book_appointment": "book_appointment", "cancel_appointment": "cancel_appointment",
                   "reschedule_appointment": "change_appointment", "confirm_form": "fill_form", "erase_my_data": "my_data"}


def _names(state: ConversationState, run: TurnRuntime) -> list[str]:
    """How the resident may name the item of the pending action (好，护照那个确认)."""
    pending = state.get("pending") or {}
    code = ((pending.get("call") or {}).get("args") or {}).get("item_code") or \
        ((state.get("focus") or {}).get("item") or {}).get("code")
    return [word for word, _ in run.brain_ctx.terms.terms.get(code or "", [])]


def _remember(state: ConversationState, runtime: TurnRuntime) -> None:
    """Long-term memory: the hall a resident books at and the items they deal with."""
    ctx = runtime.tools
    memory = dict(ctx.resident.memory or {})
    for result in state.get("results", []):
        if result["name"] == "book_appointment" and result["status"] == "success":
            memory["usual_hall"] = result["data"]["appointment"]["hall"]
    item = ((state.get("focus") or {}).get("item") or {}).get("name")
    if item and state.get("intent") in ("service_lookup", "book_appointment"):
        recent = [i for i in memory.get("recent_items", []) if i != item]
        memory["recent_items"] = [item, *recent][:5]
        memory["last_seen"] = ctx.now.date().isoformat()
    if memory != (ctx.resident.memory or {}):
        residents.remember(ctx.session, ctx.resident, **memory)
        runtime.brain_ctx.memory = memory
