"""Spoken messages the recogniser was unsure of are read back before the agent acts on them."""

from __future__ import annotations

from sqlmodel import select

from tests.agent.conftest import TESTER, Chat
from tests.conftest import NOW
from tongban.agent.messages import Inbound, Reply, Transcript
from tongban.memory.models import Appointment
from tongban.memory.store import Store

BOOK = "我想预约明天上午去南宁市民中心换身份证"


def speak(chat: Chat, text: str, confidence: float, language: str = "zh") -> Reply:
    return chat.agent.respond_sync(Inbound(
        channel=chat.channel, user_id=chat.user, text=text, at=NOW, identity=TESTER,
        transcript=Transcript(confidence=confidence, language=language),
    ))


def booked(store: Store) -> list[Appointment]:
    with store.session() as session:
        return list(session.exec(select(Appointment)))


def test_a_low_confidence_transcript_is_read_back_and_acted_on_only_after_yes(chat: Chat, store: Store) -> None:
    asked = speak(chat, BOOK, confidence=0.42)
    assert asked.text.startswith(f"您是说“{BOOK}”吗？")
    assert "1. 是的" in asked.text, "elderly mode numbers the choices"
    assert asked.tool_calls == [] and asked.intent is None
    assert asked.elderly, "a resident who speaks gets elderly-mode replies"
    assert "是的" in asked.quick_replies
    assert booked(store) == []
    confirmed = chat.say("是的")
    assert confirmed.intent == "book_appointment" and confirmed.item == "居民身份证换领"
    assert "请确认" in confirmed.text, "the booking itself still asks its own confirmation"
    assert booked(store) == []
    done = chat.say("好的")
    assert "预约成功" in done.text and len(booked(store)) == 1


def test_no_asks_to_say_it_again_or_type(chat: Chat, store: Store) -> None:
    speak(chat, BOOK, confidence=0.3)
    again = chat.say("不是")
    assert "再说一遍" in again.text and "打字" in again.text
    assert again.tool_calls == []
    later = chat.say("是的")  # nothing is pending any more: the old transcript is gone
    assert later.intent != "book_appointment" and "请确认" not in later.text and booked(store) == []


def test_cantonese_is_read_back_even_when_confident(chat: Chat) -> None:
    asked = speak(chat, "身份证过期咗点样换", confidence=0.95, language="yue")
    assert asked.text.startswith("您是说“身份证过期咗点样换") and asked.tool_calls == []
    answer = speak(chat, "系", confidence=0.9, language="yue")  # the yes itself is not read back
    assert answer.intent == "service_lookup" and answer.item == "居民身份证换领"


def test_a_confident_mandarin_transcript_is_acted_on_at_once(chat: Chat) -> None:
    reply = speak(chat, "身份证到期了怎么换", confidence=0.93)
    assert reply.intent == "service_lookup" and reply.item == "居民身份证换领"
    assert reply.elderly


def test_a_new_message_instead_of_an_answer_is_understood_as_itself(chat: Chat, store: Store) -> None:
    speak(chat, BOOK, confidence=0.2)
    reply = chat.say("社保卡要带什么材料")
    assert reply.intent == "service_lookup" and "材料" in reply.text
    assert booked(store) == []
