"""What every channel hands the agent, and what it gets back.

Channels turn their wire formats into `Inbound` and render `Reply`; the agent never
sees a channel's types. Voice arrives as a transcript with its confidence and language.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tongban.memory.residents import Identity

Intent = Literal[
    "service_lookup",
    "book_appointment",
    "cancel_appointment",
    "query_progress",
    "handoff",
    "chitchat",
    "out_of_scope",
    "my_appointments",
    "my_data",
    "fill_form",
    "declined",  # the resident said no to a confirmation question
]


@dataclass(frozen=True)
class Transcript:
    """A speech-recognition result: low confidence or dialect makes the agent confirm."""

    confidence: float
    language: str = "zh"  # zh, yue (Cantonese), en, …


@dataclass(frozen=True)
class Inbound:
    channel: str  # wechat | miniprogram | web | sms
    user_id: str  # the channel's id for this person (openid, web id, phone for SMS)
    text: str
    at: dt.datetime | None = None  # when the resident sent it; the agent's clock if None
    identity: Identity | None = None  # verified identity (实名) when the channel has one
    unionid: str | None = None
    transcript: Transcript | None = None  # set when `text` came from speech
    message_id: str | None = None  # the channel's id, for idempotent writes
    audio_ref: str | None = None  # the stored recording of a voice message (memory.transcripts.save_audio)


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]
    status: Literal["success", "error", "refused"] = "success"
    result: str = ""


@dataclass
class Reply:
    text: str
    intent: Intent | None = None
    item: str | None = None  # the catalog name of the item this turn is about
    quick_replies: list[str] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    handoff: bool = False  # the conversation now waits for staff
    ai_generated: bool = False  # the text was written by a language model
    elderly: bool = False
    citations: list[str] = field(default_factory=list)  # keys of the knowledge-base entries cited, in order


AI_LABEL = "（本回复由AI生成，仅供参考）"  # 生成式人工智能标识: channels show it, the transcript keeps it

TEXT_LIMIT = 2000  # characters of one message the agent reads
_REPEATS = re.compile(r"([^\d]{1,40}?)\1{2,}")  # a phrase said three times or more; digit runs stay


def clip_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """A very long message, made readable: repeated phrases said once, then head and tail kept.

    Pasted walls of text and floods (啊啊啊…, emoji, one sentence a thousand times) must not
    push the actual question out of the window: the question is usually at the end.
    """
    if len(text) <= limit:
        return text
    text = _REPEATS.sub(r"\1", text)
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "……" + text[-half:]

