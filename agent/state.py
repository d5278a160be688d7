"""The conversation state the graph carries between nodes and, checkpointed, between messages.

Reducers say how a node's partial update combines with what is there: messages are
appended (and trimmed by id), the focus of the conversation is merged key by key, and the
per-turn lists start afresh when the turn starts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

RESET = "__reset__"


def merge_focus(current: dict[str, Any] | None, update: dict[str, Any] | None) -> dict[str, Any]:
    """Merge what this turn learnt into the conversation's focus; None values forget a key."""
    if update is None:
        return current or {}
    if update.get(RESET):
        return {k: v for k, v in update.items() if k != RESET and v is not None}
    merged = dict(current or {})
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def per_turn(current: list[Any] | None, update: list[Any] | str | None) -> list[Any]:
    """Append within a turn; the string RESET starts the next turn empty."""
    if update == RESET:
        return []
    return [*(current or []), *(update or [])]


class Turn(TypedDict, total=False):
    text: str
    now: str  # ISO datetime, the agent's clock for this turn
    channel: str
    message_id: str | None
    confidence: float | None  # speech transcripts only
    language: str | None
    elderly: bool


class ItemRef(TypedDict):
    code: str
    name: str


class Focus(TypedDict, total=False):
    """What the conversation is about, carried across turns (merged key by key, see `merge_focus`).
    Keys named in `nodes.PER_TURN_FOCUS` start afresh with every message."""

    task: str | None  # the task under way: book_appointment, change_appointment, query_progress, …
    item: ItemRef | None
    hall: str | None
    date: str | None  # YYYY-MM-DD
    date_said: bool | None  # the date was said in this message
    period: str | None  # 上午 | 下午
    time: str | None  # HH:MM
    missing: str | None  # the one value a booking still needs: item, hall or date
    receipt_no: str | None
    phone: str | None  # sealed in the checkpoint (agent.sealing)
    id_last4: str | None  # sealed
    heard: dict[str, Any] | None  # a doubtful transcript read back (agent.hearing); sealed
    choices: list[dict[str, str]] | None  # items offered when retrieval could not tell them apart (brains.clarify)
    choice_aspect: str | None
    receipt_choices: list[str] | None  # receipt numbers of a verified resident's applications, listed to choose from
    receipt_items: list[str] | None  # the item of each of those applications, in the same order (公积金嗰个 picks by it)
    cancel_item: ItemRef | None
    cancel_names: list[str]  # every item the words name: the booked one of them is meant
    cancel_target: int | None
    change_item: ItemRef | None
    change_target: int | None
    change_slots: dict[str, str] | None  # the new date, period, time or hall of a change
    aspect: str | None
    question: str | None
    refusal: str | None
    data_action: str | None
    declined: str | None  # the action a resident said no to
    digression: str | None  # chitchat | hesitate | cannot_handle | ack: the aside this turn answered
    corrected: list[str] | None  # the values this turn corrected
    repair: str | None  # which: the agent asked which value to change; which_hall/_date/_time: to what
    form: dict[str, Any] | None
    form_action: str | None
    form_offered: list[str]
    offered: list[str]  # life-event items already offered
    unplaced: Any


Flow = Literal["book_appointment", "change_appointment", "cancel_appointment", "booked"]


class Frame(TypedDict, total=False):
    """A task on the flow stack (see `agent.flows`): a write waiting for its confirmation while
    the resident corrects or asks something else, or an appointment booked a moment ago."""

    flow: Flow
    item: dict[str, str] | None  # {code, name}
    slots: dict[str, str]  # item_code, hall, date, period, time (see agent.commands.Slots)
    appointment_id: int | None  # the appointment a change, a cancellation or `booked` is about
    pending: dict[str, Any] | None  # the confirmation this frame waits for


class ConversationState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    turn: Turn
    # what the conversation is about, carried across turns: item, hall, date, period,
    # receipt number, second factor, and the task in progress
    focus: Annotated[Focus, merge_focus]
    intent: str | None
    plan: Annotated[list[dict[str, Any]], per_turn]  # tool calls to make: {name, args}
    results: Annotated[list[dict[str, Any]], per_turn]  # tool results: {name, status, data}
    pending: dict[str, Any] | None  # a write waiting for the resident's confirmation
    stack: list[Frame]  # suspended tasks, top last; set by the confirm node and the repair executor
    resume: dict[str, Any] | None  # a suspended confirmation to ask again once this turn's aside is answered
    confirmation: dict[str, Any] | None  # set only by the confirm node
    steps: int  # model/tool round trips this turn, bounded
    more: bool  # the brain wants to see this step's tool results before the reply
    brain: str | None  # which brain decided this turn (offline when the model was skipped or failed)
    reply: dict[str, Any]
    # how sure the brain was of the item this turn (offline brain: confident, service words,
    # follow-up); None on turns that did not start with a fresh message, which are not logged
    placement: dict[str, Any] | None
