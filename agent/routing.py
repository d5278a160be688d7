"""Where the graph goes next: each router reads the state and names one node."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END

from tongban.agent.state import ConversationState

MAX_STEPS = 4


def route_after_understand(state: ConversationState) -> Literal["call_tools", "hand_off", "respond"]:
    if state.get("intent") == "handoff" and state.get("plan"):
        return "hand_off"
    return "call_tools" if state.get("plan") else "respond"


def route_after_tools(state: ConversationState) -> Literal["understand", "respond"]:
    """Back to the brain only when it asked to see the results (a model writing its answer,
    the offline brain choosing which appointment to cancel)."""
    if state.get("pending") or state.get("steps", 0) >= MAX_STEPS or not state.get("more"):
        return "respond"
    return "understand"


def route_after_respond(state: ConversationState) -> Literal["confirm", "__end__"]:
    return "confirm" if state.get("pending") else END


def route_after_confirm(state: ConversationState) -> Literal["call_tools", "understand", "respond"]:
    if state.get("plan"):
        return "call_tools"  # the resident said yes: run the confirmed write
    if state.get("pending") is None and (state.get("intent") == "declined"
                                         or (state.get("focus") or {}).get("repair") == "which_again"):
        return "respond"  # declined, or a bare yes to 您要改哪一项？ (asked again)
    return "understand"  # a new request instead of an answer
