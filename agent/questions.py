"""Which turns go into the supervisors' question log, and as what.

A turn is logged when it started with a fresh message: a lookup placed on an item the
question named counts towards the week's hot topics (no text kept); service words with no
item, or an item chosen without being named, are low-confidence; a second such lookup in a
row is a rephrasing; asking for a person is logged too. Answers from the knowledge base are
logged with the entry they cite, and policy questions it could not answer surely (below the
calibrated line) keep their masked text for supervisors, as misses. Other turns (bookings, progress,
chit-chat) are not questions about where to go and are left out.
"""

from __future__ import annotations

from typing import Any

from tongban.agent.state import ConversationState
from tongban.memory import questions
from tongban.memory.models import QuestionKind


def classify(state: ConversationState) -> tuple[QuestionKind, str | None] | None:
    """(kind, item code) for a fresh turn worth logging, else None."""
    placement = state.get("placement")
    if placement is None:
        return None
    intent = state.get("intent")
    focus = state.get("focus") or {}
    if intent == "handoff":
        return QuestionKind.ASKED_PERSON, (focus.get("item") or {}).get("code")
    if intent == "out_of_scope" and placement.get("kb") == "miss" and focus.get("kb_miss"):
        return QuestionKind.KB_MISS, placement.get("guess")
    if intent == "out_of_scope" and placement.get("service_words") and focus.get("refusal") != "safety":
        return QuestionKind.LOW_CONFIDENCE, placement.get("guess")
    if intent == "service_lookup" and placement:
        code = (focus.get("item") or {}).get("code")
        if placement.get("confident") or placement.get("follow_up"):
            return QuestionKind.ANSWERED, code
        if placement.get("kb") == "hit":
            return QuestionKind.KB_ANSWERED, code
        return QuestionKind.LOW_CONFIDENCE, code
    return None


def log_turn(state: ConversationState, ctx: Any) -> bool | None:
    """Record this turn; returns whether it was an unplaced lookup (None when not logged)."""
    found = classify(state)
    if found is None:
        return None
    kind, code = found
    unplaced = kind == QuestionKind.LOW_CONFIDENCE
    if unplaced and (state.get("focus") or {}).get("unplaced"):
        kind = QuestionKind.REPHRASED
    questions.record(ctx.session, ctx.vault, kind=kind, resident_id=ctx.resident.id or 0, channel=ctx.channel,
                     text=state["turn"]["text"], item_code=code, at=ctx.now,
                     kb_key=(state.get("placement") or {}).get("kb_key"))
    return unplaced
