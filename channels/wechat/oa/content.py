"""What a WeChat message means for the agent, and how a `Reply` reads in WeChat.

Text goes to the agent as it is; voice as WeChat's own recognition when it sent one, else as
audio for the voice hook; a menu click as the text its key stands for. Everything else gets
a fixed answer and never reaches the agent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from wechatpy.messages import BaseMessage

from tongban.agent.messages import Reply, Transcript
from tongban.channels.app.base import labelled_text

# menu CLICK keys → what the resident would have typed (configure the menu with these keys)
MENU: dict[str, str] = {
    "MENU_PROGRESS": "查询办件进度",
    "MENU_BOOK": "预约办理",
    "MENU_HUMAN": "转人工",
}

WELCOME = (
    "您好，欢迎关注！我是通办政务服务助手，可以帮您：\n"
    "1. 查办事指南：材料、流程、收费、时限、在哪里办\n"
    "2. 预约办事大厅\n"
    "3. 查询办件进度\n"
    "4. 转接人工服务\n"
    "直接发文字或语音告诉我您想办什么事，例如“换身份证要带什么”。"
)
UNSUPPORTED = "抱歉，暂不支持这种消息。请发文字或语音告诉我您想办什么事。"
NOT_HEARD = "抱歉，没听清，请打字告诉我，或稍后再试。"
FAILED = "抱歉，系统暂时出了点问题，请稍后再试，或回复“转人工”。"

WECHAT_RECOGNITION = Transcript(confidence=0.9, language="zh")
TEXT_LIMIT_BYTES = 2000  # WeChat truncates text replies beyond about 2048 bytes


@dataclass(frozen=True)
class Ask:
    """Text for the agent (typed, recognised by WeChat, or a menu key's meaning)."""

    text: str
    transcript: Transcript | None = None


@dataclass(frozen=True)
class Listen:
    """A voice message without WeChat's recognition: download it, hand it to the voice hook."""

    media_id: str
    fmt: str


@dataclass(frozen=True)
class Answer:
    """A fixed answer, no agent: a welcome, or a polite refusal of a type we don't handle."""

    text: str


@dataclass(frozen=True)
class Ignore:
    """Nothing to say (an event we don't act on): WeChat gets `success`."""


Action = Ask | Listen | Answer | Ignore


def classify(message: BaseMessage, menu: dict[str, str]) -> Action:
    kind = message.type
    if kind == "text":
        text = (message.content or "").strip()
        return Ask(text) if text else Answer(UNSUPPORTED)
    if kind == "voice":
        recognised = (message.recognition or "").strip()
        if recognised:
            return Ask(recognised, WECHAT_RECOGNITION)
        if message.media_id:
            return Listen(message.media_id, (message.format or "amr").lower())
        return Answer(NOT_HEARD)
    if kind == "event":
        event = message.event
        if event in ("subscribe", "subscribe_scan"):  # scanning a QR code to follow is a follow
            return Answer(WELCOME)
        if event == "click" and message.key in menu:
            return Ask(menu[message.key])
        return Ignore()
    return Answer(UNSUPPORTED)  # image, location, link, video, shortvideo, file…


def message_key(message: BaseMessage) -> str:
    """WeChat's retry key: the MsgId, or for events (which have none) sender + CreateTime."""
    if message.type == "event" or not message.id:
        return f"{message.source}:{message.time}"
    return str(message.id)


def render(reply: Reply) -> str:
    """A reply as WeChat text: AI-labelled where a model wrote it, quick replies as a hint."""
    hint = "\n可回复：" + "、".join(reply.quick_replies[:4]) if reply.quick_replies else ""
    text = labelled_text(reply) + hint
    excess = len(text.encode()) - TEXT_LIMIT_BYTES
    if excess > 0 and reply.text:  # shorten the body; the label and the hint stay
        body = reply.text.encode()[: max(0, len(reply.text.encode()) - excess - 3)].decode(errors="ignore")
        text = labelled_text(dataclasses.replace(reply, text=body + "…")) + hint
    return text
