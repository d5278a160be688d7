"""长者模式: a resident turns it on and off by saying so; it is remembered; replies then come in
short sentences, with numbered choices, one question a turn."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlmodel import select

from tests.agent.conftest import Chat
from tongban.agent.service import Agent
from tongban.memory.models import Resident
from tongban.memory.store import Store


def elderly(store: Store, web_id: str) -> bool:
    with store.session() as session:
        return session.exec(select(Resident.elderly).where(Resident.web_id == web_id)).one()


def longest_sentence(text: str) -> int:
    return max(len(s) for s in re.split(r"[。！？\n]", text))


def web_chat(agent: Agent, user: str = "w-elder") -> Chat:
    return Chat(agent, user=user, identity=None, channel="web")


def test_asking_for_it_turns_it_on_and_it_is_remembered(make_agent: Callable[..., Agent], store: Store) -> None:
    chat = web_chat(make_agent())
    on = chat.say("请开启长者模式")
    assert "已开启长者模式" in on.text and "超出" not in on.text and on.elderly
    assert elderly(store, chat.user)
    assert "已经开着" in chat.say("请开启长者模式").text
    later = web_chat(make_agent())  # a new process: the mode lives on the resident, not in memory
    assert later.say("身份证到期了怎么换").elderly
    off = later.say("关闭长者模式")
    assert "已关闭长者模式" in off.text and not off.elderly and not elderly(store, chat.user)
    assert not later.say("身份证到期了怎么换").elderly


def test_saying_one_is_old_and_the_print_is_small_turns_it_on(make_agent: Callable[..., Agent], store: Store) -> None:
    chat = web_chat(make_agent())
    reply = chat.say("我是老年人，字太小了")
    assert "已开启长者模式" in reply.text and "超出" not in reply.text
    assert elderly(store, chat.user)


def test_a_question_asked_with_it_is_answered_in_the_mode(make_agent: Callable[..., Agent], store: Store) -> None:
    chat = web_chat(make_agent())
    reply = chat.say("我是老年人，身份证到期了怎么换")
    assert reply.item == "居民身份证换领" and reply.elderly and elderly(store, chat.user)


def test_talking_about_the_elderly_is_not_asking_for_the_mode(make_agent: Callable[..., Agent], store: Store) -> None:
    chat = web_chat(make_agent())
    reply = chat.say("老年人优待证怎么办")
    assert "老年人优待证" in (reply.item or "") and not reply.elderly and not elderly(store, chat.user)


def test_replies_are_short_numbered_and_ask_one_thing(make_agent: Callable[..., Agent], store: Store) -> None:
    plain_chat = web_chat(make_agent(), user="w-plain")
    normal = plain_chat.say("我想预约换身份证")
    chat = web_chat(make_agent())
    chat.say("开启长者模式")
    asked = chat.say("我想预约换身份证")
    assert asked.text.count("？") == 1
    numbered = re.findall(r"^(\d)\. (.+)$", asked.text, flags=re.MULTILINE)
    assert [n for n, _ in numbered] == ["1", "2", "3"] and "请回复数字" in asked.text
    assert not re.search(r"^\d\. ", normal.text, flags=re.MULTILINE), "numbering is for the mode only"
    first_hall = numbered[0][1]
    when = chat.say("1")  # picks the first hall offered
    assert first_hall in when.text and "哪天" in when.text
    confirm = chat.say("2")  # the second day offered
    assert "请确认" in confirm.text
    plain_chat.say(first_hall)
    normal_confirm = plain_chat.say("明天下午")
    assert "请确认" in normal_confirm.text
    assert longest_sentence(confirm.text) <= 40 < longest_sentence(normal_confirm.text), "sentences are split short"
    assert "预约成功" in chat.say("1").text


def test_materials_needed_only_sometimes_are_named_in_the_mode_too(make_agent: Callable[..., Agent], store: Store) -> None:
    # an older resident who asked what to bring should not find out at the counter
    chat = web_chat(make_agent())
    chat.say("请开启长者模式")
    answer = chat.say("老年人优待证要带什么材料")
    assert "居民身份证" in answer.text and "一寸免冠照片" in answer.text and answer.elderly
