"""The LLM brain: any LangChain chat model with tool calling, behind the same interface.

The offline brain understands every message first; its confident decisions (hand-offs,
progress queries, confirmations, tasks under way, greetings) skip the model. Otherwise the model
plans tool calls, sees their results, and writes a grounded answer, labelled AI-generated. Its
calls pass the same tool gates. When the model fails, is slow, or answers in another language,
the offline brain answers and a metric records it. Everything sent to the model is masked.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from tongban.agent.brains import choose, clarify
from tongban.agent.brains.base import BrainContext
from tongban.agent.brains.kb_replies import model_answer, searched
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.brains.prompts import ELDERLY, REPAIR, SYSTEM
from tongban.agent.brains.repair import about_booking
from tongban.agent.commands import COMMAND_TOOLS, Command, from_tool_call
from tongban.agent.metrics import LLM_FALLBACKS
from tongban.agent.state import ConversationState, Frame
from tongban.agent.toolbox import TOOLS
from tongban.memory.clock import WEEKDAYS
from tongban.memory.pii import mask_text

# the model may only ask for reads and for writes the gates protect; progress and erasure
# are decided by the offline brain, which holds the unmasked factors
MODEL_TOOLS = ("search_services", "search_knowledge", "service_detail", "available_slots", "book_appointment",
               "cancel_appointment", "my_appointments", "handoff", "fill_form", "forms_available")
# once a form tool ran, the questions and the confirmation follow the offline rules, whoever started it
FORM_TOOLS = {"fill_form", "confirm_form", "forms_available"}
OFFLINE_DECIDES = {"handoff", "query_progress", "my_data", "my_appointments", "cancel_appointment", "chitchat",
                   "fill_form", "change_appointment"}
INTENT_OF_TOOL = {
    "search_services": "service_lookup", "service_detail": "service_lookup", "search_knowledge": "service_lookup",
    "available_slots": "book_appointment", "book_appointment": "book_appointment",
    "cancel_appointment": "cancel_appointment", "my_appointments": "my_appointments", "handoff": "handoff",
    "fill_form": "fill_form", "forms_available": "fill_form",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
REST_S = 30.0  # after a timeout or a refused connection, turns skip the model this long


class ModelFailure(RuntimeError):
    """The model could not be used this turn; the offline brain answers instead."""


def _command_schema(name: str) -> dict[str, Any]:
    description, args = COMMAND_TOOLS[name]
    tool = convert_to_openai_tool(args)
    tool["function"]["name"] = name
    tool["function"]["description"] = description
    return tool


def _schema(name: str) -> dict[str, Any]:
    spec = TOOLS[name]
    tool = convert_to_openai_tool(spec.args)
    tool["function"]["name"] = name
    tool["function"]["description"] = spec.description
    return tool


class LLMBrain:
    name = "llm"

    def __init__(self, model: BaseChatModel, offline: OfflineBrain | None = None) -> None:
        self.offline = offline or OfflineBrain()
        self.chat = model  # unbound: the bounded candidate pick uses no tools
        self.model = model.bind_tools([_schema(n) for n in MODEL_TOOLS])
        self.commander = model.bind_tools([_command_schema(n) for n in COMMAND_TOOLS])
        self.resting_until = 0.0  # monotonic time before which the model is not asked

    @classmethod
    def from_settings(cls) -> LLMBrain:
        from tongban.agent.brains.models import chat_model_from_settings

        return cls(chat_model_from_settings())

    # ------------------------------------------------------------ understanding

    def understand(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        first = state.get("steps", 0) == 0
        if first:
            decision = self.offline.understand(state, ctx)
            focus = {**(state.get("focus") or {}), **decision.get("focus", {})}
            if self._offline_is_sure(decision, focus, state):
                return {**decision, "brain": "offline"}
            # a close call goes to the bounded pick; candidates offered only because the hits were
            # weak (`placement["unsure"]`) do not: the model plans its own search, as for any
            # question retrieval could not place, and the offer stays the fallback's answer
            offered = (decision.get("focus") or {}).get("choices")
            if offered and not (decision.get("placement") or {}).get("unsure"):
                return self._choose(state, decision, offered)
            rivals = (decision.get("placement") or {}).get("rivals")
            if rivals:  # answered, but not surely: the model picks among the first hits (#18)
                answered, picked = self._pick(state, rivals)
                if not answered or (picked is not None and picked["code"] == rivals[0]["code"]):
                    return {**decision, "brain": "offline"}  # the model is down, or agrees
                if picked is not None:
                    chosen = clarify.chosen(picked, {"choice_aspect": decision["focus"].get("aspect")})
                    return {**chosen, "placement": decision.get("placement"), "brain": "llm"}
                # none of them, in the model's reading: it plans its own search below
            if any(c["name"] == "search_knowledge" for c in decision.get("plan", [])):
                # a policy question: the model writes its answer from the passages found
                return {**decision, "brain": "llm", "more": True}
        elif state.get("brain") == "offline":
            return self.offline.understand(state, ctx)
        elif any(r["name"] in FORM_TOOLS for r in state.get("results", [])):
            return {**self.offline.understand(state, ctx), "brain": "offline"}
        if time.monotonic() < self.resting_until:  # a hung server must not cost every turn its timeout
            LLM_FALLBACKS.labels(reason="resting").inc()
            raise ModelFailure("the model server timed out or refused moments ago")
        try:
            message = self.model.invoke(self._prompt(state, ctx))
        except Exception as exc:  # server down, timeout, malformed output
            LLM_FALLBACKS.labels(reason=type(exc).__name__).inc()
            if any(n in k.__name__ for k in type(exc).__mro__ for n in ("Timeout", "Connection")):
                self.resting_until = time.monotonic() + REST_S
            raise ModelFailure(str(exc)) from exc
        if not isinstance(message, AIMessage):
            raise ModelFailure("not an AI message")
        if message.tool_calls:
            # known tools the model may not use; an unknown name goes on to become an error result
            forbidden = sorted({c["name"] for c in message.tool_calls} & (set(TOOLS) - set(MODEL_TOOLS)))
            if forbidden:  # progress and erasure hold unmasked factors: never on the model's word
                LLM_FALLBACKS.labels(reason="forbidden_tool").inc()
                raise ModelFailure(f"the model asked for tools it may not use: {', '.join(forbidden)}")
            plan = [{"name": c["name"], "args": c["args"], "id": c.get("id") or uuid.uuid4().hex}
                    for c in message.tool_calls]
            intent = INTENT_OF_TOOL.get(plan[0]["name"], state.get("intent") or "service_lookup")
            return {"intent": intent if first else state.get("intent") or intent, "plan": plan, "brain": "llm",
                    "more": True}
        text = message.content if isinstance(message.content, str) else ""
        if len(CJK.findall(text)) < max(2, len(text) // 5):  # empty or not Chinese: do not show it
            LLM_FALLBACKS.labels(reason="language").inc()
            raise ModelFailure("reply not in Chinese")
        citations: list[str] = []
        found = searched(state)
        if found is not None:  # a policy answer must rest on the entries retrieved, and cite them
            checked = model_answer(text.strip(), found)
            if checked is None:
                LLM_FALLBACKS.labels(reason="ungrounded").inc()
                return {"plan": [], "brain": "offline"}
            text, citations = checked
        update: dict[str, Any] = {"plan": [], "brain": "llm", "ai": True,
                                  # it only ever saw masked data: a full number in its answer is not its to give
                                  "reply": {"text": mask_text(text.strip()), "item": self._item(state),
                                            "citations": citations}}
        if first:
            update["intent"] = "service_lookup" if self._item(state) else "out_of_scope"
        return update

    def _choose(
        self, state: ConversationState, decision: dict[str, Any], offered: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Retrieval's first hits are close: the model picks one (a bounded call), else the
        resident is asked. A failed or unusable answer asks the resident too."""
        _, picked = self._pick(state, offered)
        if picked is not None:
            chosen = clarify.chosen(picked, {"choice_aspect": decision["focus"].get("choice_aspect")})
            return {**chosen, "placement": decision.get("placement"), "brain": "llm"}
        return {**decision, "brain": "offline"}

    def _pick(self, state: ConversationState, offered: list[dict[str, str]]) -> tuple[bool, dict[str, str] | None]:
        """Whether the model answered the bounded pick, and the candidate it picked (None: none fits)."""
        if time.monotonic() < self.resting_until:
            return False, None
        try:
            return True, choose.pick(self.chat, state["turn"]["text"], offered)
        except Exception as exc:  # server down, timeout, an answer that is no number offered
            LLM_FALLBACKS.labels(reason=type(exc).__name__).inc()
            return False, None

    # ------------------------------------------------------------ repair

    def repair(self, state: ConversationState, frame: Frame, ctx: BrainContext) -> list[Command]:
        """The model says what the message does to the suspended task, in the same commands the
        offline rules emit; a text answer or no valid command leaves it to the rules."""
        if frame["flow"] == "booked" and not about_booking(state["turn"]["text"]):
            return []
        if time.monotonic() < self.resting_until:
            LLM_FALLBACKS.labels(reason="resting").inc()
            raise ModelFailure("the model server timed out or refused moments ago")
        try:
            message = self.commander.invoke(self._repair_prompt(state, frame, ctx))
        except Exception as exc:
            LLM_FALLBACKS.labels(reason=type(exc).__name__).inc()
            if any(n in k.__name__ for k in type(exc).__mro__ for n in ("Timeout", "Connection")):
                self.resting_until = time.monotonic() + REST_S
            raise ModelFailure(str(exc)) from exc
        calls = message.tool_calls if isinstance(message, AIMessage) else []
        commands = [c for c in (from_tool_call(call["name"], call["args"]) for call in calls) if c is not None]
        if not commands:
            return self.offline.repair(state, frame, ctx)
        return commands

    def _repair_prompt(self, state: ConversationState, frame: Frame, ctx: BrainContext) -> list[BaseMessage]:
        slots = frame.get("slots") or {}
        task = {"book_appointment": "预约", "change_appointment": "改约", "cancel_appointment": "取消预约",
                "booked": "刚刚约好的预约"}[frame["flow"]]
        pending = (frame.get("pending") or {}).get("summary") or ""
        system = REPAIR.format(
            today=ctx.now.date().isoformat(), weekday="周" + WEEKDAYS[ctx.now.weekday()], task=task,
            item=(frame.get("item") or {}).get("name") or "", hall=slots.get("hall") or "",
            date=slots.get("date") or "", period=slots.get("period") or "", time=slots.get("time") or "",
            pending=mask_text(pending), halls="、".join(h.name for h in ctx.halls),
        )
        return [SystemMessage(system), HumanMessage(mask_text(state["turn"]["text"]))]

    def _offline_is_sure(self, decision: dict[str, Any], focus: dict[str, Any], state: ConversationState) -> bool:
        intent = decision.get("intent")
        if intent in OFFLINE_DECIDES or (state.get("focus") or {}).get("task"):
            return True
        if intent == "out_of_scope" and focus.get("refusal") in ("safety", "third_party"):
            return True
        if (decision.get("placement") or {}).get("elsewhere"):
            return True  # another region's rules: no item of ours for the model to search out
        if (decision.get("placement") or {}).get("private"):
            return True  # a bank's card, a shop's pass: no item of ours for the model to search out
        return intent == "book_appointment" and bool(decision.get("plan"))

    def _item(self, state: ConversationState) -> str | None:
        for result in reversed(state.get("results", [])):
            data = result.get("data") or {}
            if result["name"] == "service_detail" and data.get("name"):
                return data["name"]
            if result["name"] == "search_services" and data.get("hits"):
                return data["hits"][0]["name"]
        return None

    def _prompt(self, state: ConversationState, ctx: BrainContext) -> list[BaseMessage]:
        focus = state.get("focus") or {}
        resident = "已实名认证" if ctx.verified else "未实名认证"
        if ctx.memory.get("usual_hall"):
            resident += f"，常去{ctx.memory['usual_hall']}"
        topic = (focus.get("item") or {}).get("name") or "无"
        system = SYSTEM.format(
            today=ctx.now.date().isoformat(), weekday="周" + WEEKDAYS[ctx.now.weekday()],
            elderly=ELDERLY if ctx.elderly else "", resident=resident, focus=topic,
        )
        messages: list[BaseMessage] = [SystemMessage(system)]
        history = state.get("messages", [])
        for message in history[-10:]:
            content = mask_text(message.content if isinstance(message.content, str) else "")
            messages.append(HumanMessage(content) if message.type == "human" else AIMessage(content))
        if not history or history[-1].type != "human":
            messages.append(HumanMessage(mask_text(state["turn"]["text"])))
        for result in state.get("results", []):
            call_id = result.get("id") or uuid.uuid4().hex
            messages.append(AIMessage("", tool_calls=[{"name": result["name"], "args": result.get("args", {}), "id": call_id}]))
            payload = {k: v for k, v in result.items() if k not in ("id", "args", "digest")}
            messages.append(ToolMessage(
                mask_text(json.dumps(payload, ensure_ascii=False, default=str))[:4000],
                tool_call_id=call_id, status="error" if result["status"] == "error" else "success",
            ))
        return messages

    # ------------------------------------------------------------ replies

    def compose(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        return self.offline.compose(state, ctx)
