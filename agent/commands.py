"""The small language both brains speak when a resident repairs a conversation.

After Rasa CALM's dialogue understanding: understanding only *emits* commands; a deterministic
executor (`agent.flows`) runs them against the stack of flows, so a correction, a digression
or a change of mind is handled the same whichever brain (rules or model) heard it. Commands
are plain dicts, so they checkpoint and log like the rest of the state; the LLM brain gets
them as tool schemas and its calls are validated here before anything runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, Field, ValidationError

Digression = Literal["question", "progress", "chitchat", "hesitate"]


class Slots(TypedDict, total=False):
    """Values of a booking a resident can set or correct; `time` is HH:MM, the half-hour slot."""

    item_code: str
    hall: str
    date: str  # YYYY-MM-DD
    period: Literal["上午", "下午"]
    time: str


class Command(TypedDict):
    command: Literal["set_slots", "digress", "cancel_flow", "start_flow", "change_appointment",
                     "cancel_appointment", "hand_off", "clarify", "cannot_handle"]
    slots: NotRequired[Slots]
    kind: NotRequired[Digression]
    text: NotRequired[str]  # start_flow: the part of the message about the new topic
    about: NotRequired[Literal["hall", "date", "time"]]  # clarify: the value to change, when said (换个大厅)


def set_slots(**slots: Any) -> Command:
    return {"command": "set_slots", "slots": {k: v for k, v in slots.items() if v is not None}}  # type: ignore[typeddict-item]


def digress(kind: Digression, item_code: str | None = None) -> Command:
    """An aside; a question may name the item it is about (another than the task's)."""
    cmd: Command = {"command": "digress", "kind": kind}
    if item_code:
        cmd["slots"] = {"item_code": item_code}
    return cmd


def clarify(about: Literal["hall", "date", "time"] | None = None) -> Command:
    """Ask what to change to: `about` the one value the resident wants changed, when said."""
    cmd: Command = {"command": "clarify"}
    if about:
        cmd["about"] = about
    return cmd


def command(name: str) -> Command:
    return {"command": name}  # type: ignore[typeddict-item]


# ── what the model may emit, as tool schemas ─────────────────────────────────────────────


class SlotArgs(BaseModel):
    item_code: str | None = Field(default=None, max_length=64, description="改成的事项编码（居民改了要办的事项时）")
    hall: str | None = Field(default=None, max_length=100, description="改成的办事大厅全称")
    date: dt.date | None = Field(default=None, description="改成的日期 YYYY-MM-DD")
    period: Literal["上午", "下午"] | None = Field(default=None, description="改成的上午或下午")
    time: dt.time | None = Field(default=None, description="改成的具体时间 HH:MM")


class DigressArgs(BaseModel):
    kind: Digression = Field(description="question=问办事问题 progress=问办件进度 chitchat=道谢寒暄 hesitate=还要考虑")
    item_code: str | None = Field(default=None, max_length=64, description="插问的是另一个事项时，那个事项的编码")


class NoArgs(BaseModel):
    pass


class ClarifyArgs(BaseModel):
    about: Literal["hall", "date", "time"] | None = Field(
        default=None, description="居民只说要换大厅(hall)、换一天(date)或换个时间(time)但没说换成什么时填；不知道哪一项就不填")


COMMAND_TOOLS: dict[str, tuple[str, type[BaseModel]]] = {
    "set_slots": ("居民更正正在确认的预约（时间、上下午、日期、大厅或事项），只填改了的项", SlotArgs),
    "digress": ("居民插问别的事或道谢、犹豫，预约先保留", DigressArgs),
    "cancel_flow": ("居民不要这个预约了（没有说新的事情）", NoArgs),
    "start_flow": ("居民换了话题，去办或问另一件事，原来的预约不要了", NoArgs),
    "change_appointment": ("居民要把已有的预约改到别的时间或大厅，只填改了的项", SlotArgs),
    "cancel_appointment": ("居民要取消已经约好的预约", NoArgs),
    "hand_off": ("居民要找人工", NoArgs),
    "clarify": ("居民说预约有地方不对，但没说改成什么（没说哪一项，或只说换个大厅/换一天/换个时间）", ClarifyArgs),
    "cannot_handle": ("居民说的既不是对预约的回答，也不是能办的事（聊天气、说别的），预约先保留", NoArgs),
}


def from_tool_call(name: str, args: dict[str, Any]) -> Command | None:
    """A model's tool call as a command, or None when it is not one or its values are invalid."""
    spec = COMMAND_TOOLS.get(name)
    if spec is None:
        return None
    try:
        parsed = spec[1].model_validate(args or {})
    except ValidationError:
        return None
    if isinstance(parsed, SlotArgs):
        slots = parsed.model_dump(mode="json", exclude_none=True)
        if "time" in slots:
            slots["time"] = slots["time"][:5]
        return {"command": name, "slots": slots}  # type: ignore[typeddict-item]
    if isinstance(parsed, DigressArgs):
        return digress(parsed.kind, parsed.item_code)
    if isinstance(parsed, ClarifyArgs):
        return clarify(parsed.about)
    return command(name)
