"""Confirm what speech recognition heard before acting on it.

A spoken message recognised with low confidence, or in a language the recogniser reads less
reliably (Cantonese), is not acted on at once: the agent asks 您是说“…”吗？ and keeps the heard
text in the conversation's focus. A yes runs the heard text as the resident's message; a no asks
them to say it again or type; anything else is a new message. Typed text is never questioned.
"""

from __future__ import annotations

from typing import Any

from tongban.agent.brains.slots import classify_answer
from tongban.agent.settings import get_agent_settings
from tongban.agent.state import ConversationState, Turn

ASK = "您是说“{text}”吗？"
AGAIN = "好的，请您再说一遍，或者打字告诉我。"
HEARD = "heard"  # the focus key holding {"text", "language"} until the resident answers


def doubtful(turn: Turn) -> bool:
    """A transcript the agent should read back first (never a typed message)."""
    confidence = turn.get("confidence")
    if confidence is None:
        return False
    settings = get_agent_settings()
    return confidence < settings.voice_confirm_below or (turn.get("language") or "") in settings.voice_confirm_languages


def screen(state: ConversationState) -> tuple[dict[str, Any], Turn | None]:
    """On a turn's first step: (update, turn to understand instead), or (update, None) to answer now.

    An empty update with the turn itself means: nothing to confirm, carry on.
    """
    turn = state["turn"]
    pending = (state.get("focus") or {}).get(HEARD)
    update: dict[str, Any] = {}
    if pending:
        update["focus"] = {HEARD: None}
        verdict = classify_answer(turn["text"])
        if verdict == "yes":  # run what was heard, as typed: no second read-back
            return update, {**turn, "text": pending["text"], "confidence": None, "language": pending.get("language")}
        if verdict == "no":
            return {**update, "plan": [], "reply": {"text": AGAIN, "final": True}}, None
    if doubtful(turn):
        text = turn["text"].strip()
        reply = {"text": ASK.format(text=text), "quick_replies": ["是的", "不是"], "final": True}
        return {"plan": [], "focus": {HEARD: {"text": text, "language": turn.get("language")}}, "reply": reply}, None
    return update, turn
