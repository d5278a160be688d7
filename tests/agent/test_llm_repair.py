"""Conversation repair on the LLM brain, with scripted chat models: the model emits the same
commands as the offline rules, the same executor runs them, and the gates hold whatever it says."""

from __future__ import annotations

from collections.abc import Callable

from tests.agent.conftest import Chat
from tests.helpers.fakes import ScriptedChatModel, call, say
from tests.helpers.repair import BOOK, asks_to_confirm, confirmed
from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.service import Agent
from tongban.memory.store import Store


def _chat(make_agent: Callable[..., Agent], model: ScriptedChatModel) -> Chat:
    return Chat(make_agent(brain=LLMBrain(model), fallback=OfflineBrain()))


def test_a_correction_from_the_model_reissues_the_confirmation(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("set_slots", time="10:30")])
    chat = _chat(make_agent, model)
    assert asks_to_confirm(chat.say(BOOK).text)  # the rules were sure: no model call
    corrected = chat.say("能不能晚一点，十点半那个号")
    assert "10:30-11:00" in corrected.text and "11月26日" in corrected.text and confirmed(store) == []
    prompt = model.prompts[0]
    assert "社会保障卡申领" in prompt[0].content and "南宁市民中心" in prompt[0].content  # the task it repairs
    assert {t["function"]["name"] for t in model.tools} >= {"set_slots", "digress", "cancel_flow"}
    chat.say("确认")
    assert confirmed(store)[0]["start"] == "10:30"


def test_an_aside_from_the_model_keeps_the_confirmation(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("digress", kind="chitchat")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    aside = chat.say("多谢晒")
    assert "不客气" in aside.text and asks_to_confirm(aside.text)
    assert "预约成功" in chat.say("确认").text


def test_a_question_aside_is_answered_by_the_model_and_the_booking_asked_again(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[
        call("digress", kind="question"),
        call("service_detail", item_code="450000-YB-0003"),
        say("医保关系转移接续要带居民身份证或社会保障卡，不收费。"),
    ])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    aside = chat.say("对了，医保关系转移接续点样办")
    assert aside.ai_generated and "医保" in aside.text and asks_to_confirm(aside.text)
    assert confirmed(store) == []
    chat.say("那确认预约")
    assert confirmed(store)[0]["item"] == "社会保障卡申领"


def test_a_topic_switch_from_the_model_closes_the_booking(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("start_flow")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    switched = chat.say("唔约住，医保关系转移要带咩")
    assert switched.item == "医保关系转移接续" and not asks_to_confirm(switched.text)
    chat.say("确认")
    assert confirmed(store) == []


def test_a_change_after_booking_from_the_model_goes_through_a_confirmation(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("change_appointment", period="下午")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    chat.say("确认")
    asked = chat.say("啊呀约错咗，下昼先得闲")
    assert "改到" in asked.text and "下午" in asked.text and confirmed(store)[0]["period"] == "上午"
    chat.say("确认")
    [only] = confirmed(store)
    assert only["period"] == "下午"
    assert len(model.prompts) == 1  # only the message about the booking went to the model


def test_after_booking_an_unrelated_message_asks_no_repair_of_the_model(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    chat.say("确认")
    assert "材料" in chat.say("社保卡要带什么材料").text  # answered (the empty script: by the fallback)
    assert not any("对话理解" in str(prompt[0].content) for prompt in model.prompts)


def test_invalid_values_from_the_model_change_nothing(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("set_slots", item_code="999999-XX-0000", hall="月球政务中心"),
                                      say("好的。")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    reply = chat.say("换成另外那个")
    assert "999999" not in reply.text and "月球" not in reply.text
    chat.say("确认")
    assert all(a["item"] == "社会保障卡申领" for a in confirmed(store))


def test_when_the_model_fails_the_offline_rules_repair(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[RuntimeError("model server down")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    corrected = chat.say("改到下午")
    assert "下午" in corrected.text and asks_to_confirm(corrected.text)
    chat.say("确认")
    assert confirmed(store)[0]["period"] == "下午"


def test_a_question_aside_from_the_model_is_about_the_item_it_names(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # the model says which item the aside asks about; the answer is about that one, not the booking's
    model = ScriptedChatModel(script=[call("digress", kind="question", item_code="450000-YB-0001")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    aside = chat.say("等阵，嗰个点样办先")
    assert aside.item == "异地就医备案" and asks_to_confirm(aside.text) and confirmed(store) == []
    chat.say("好嘅，就咁啦")
    assert confirmed(store)[0]["item"] == "社会保障卡申领"


def test_an_unknown_item_named_by_the_model_leaves_the_aside_about_the_booking(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("digress", kind="question", item_code="999999-XX-0000")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    aside = chat.say("要带什么材料")
    assert aside.item == "社会保障卡申领" and "999999" not in aside.text and asks_to_confirm(aside.text)


def test_a_yes_that_repeats_the_offer_is_read_without_the_model(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # confirmations never go to a model: the same reading of the answer serves both brains
    model = ScriptedChatModel(script=[])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    assert "预约成功" in chat.say("行，就后天上午嗰个，订咗佢").text
    assert model.prompts == [] and len(confirmed(store)) == 1


def test_holding_off_keeps_the_confirmation_whatever_the_model_says(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("digress", kind="hesitate")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    held = chat.say("暂时唔好约住，等屋企人回复")
    assert asks_to_confirm(held.text) and confirmed(store) == []
    assert "预约成功" in chat.say("商量过了，佢话得，约啦").text


def test_cannot_handle_from_the_model_is_one_short_line_and_the_booking_waits(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("cannot_handle")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    aside = chat.say("琴日嗰场波你睇咗未")
    assert "帮不上" in aside.text and "我可以帮您" not in aside.text and asks_to_confirm(aside.text)
    assert "cannot_handle" in {t["function"]["name"] for t in model.tools}
    chat.say("确认")
    assert len(confirmed(store)) == 1


def test_a_bare_yes_to_the_models_which_question_confirms_nothing(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # the confirm node reads the answer for both brains: 您要改哪一项？ — 嗯 still says nothing
    model = ScriptedChatModel(script=[call("clarify"), call("set_slots", period="下午")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    assert "哪一项" in chat.say("有啲嘢唔对路").text
    assert "clarify" in {t["function"]["name"] for t in model.tools}
    again = chat.say("嗯")
    assert confirmed(store) == [] and "改成什么" in again.text
    assert "下午" in chat.say("下昼啦").text
    chat.say("确认")
    assert confirmed(store)[0]["period"] == "下午"


def test_the_model_asks_for_the_one_value_the_resident_wants_changed(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # 换个地方办 names the hall but not the new one: the model's clarify says which, as the rules do
    model = ScriptedChatModel(script=[call("clarify", about="hall")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    asked = chat.say("可唔可以换个地方办")
    assert "哪个大厅" in asked.text and confirmed(store) == []


# ── #19: moving the pending slot one step, and the classes read from repair-fresh-4 ──────


def test_later_from_the_model_moves_the_pending_slot_one_step(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # 晚一点 says no time: the model reads the offered slot from its prompt and names the next one
    model = ScriptedChatModel(script=[call("set_slots", time="09:30")])
    chat = _chat(make_agent, model)
    assert "09:00-09:30" in chat.say(BOOK).text
    moved = chat.say("可唔可以晚一点")
    assert "09:30-10:00" in moved.text and "11月26日" in moved.text and asks_to_confirm(moved.text)
    prompt = str(model.prompts[0][0].content)
    assert "09:00-09:30" in prompt and "晚一点" in prompt  # the slot offered, and what a step means
    chat.say("好")
    assert confirmed(store)[0]["start"] == "09:30"


def test_earlier_from_the_model_moves_the_pending_slot_one_step_back(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("set_slots", time="14:30")])
    chat = _chat(make_agent, model)
    assert "15:00-15:30" in chat.say("帮我约后天下午三点去南宁市民中心办社保卡").text
    moved = chat.say("早啲得唔得")
    assert "14:30-15:00" in moved.text and asks_to_confirm(moved.text) and confirmed(store) == []
    chat.say("确认")
    assert (confirmed(store)[0]["start"], confirmed(store)[0]["period"]) == ("14:30", "下午")


def test_earlier_from_the_first_slot_the_model_asks_what_to_change(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("clarify", about="time")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)  # 09:00, the first slot of the morning
    asked = chat.say("再早啲呢")
    assert "几点" in asked.text and "08:30" not in asked.text and confirmed(store) == []


def test_the_item_meant_named_before_the_one_denied_from_the_model(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("set_slots", item_code="450000-GA-0007")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    corrected = chat.say("讲错咗，系办护照，唔系社保卡")
    assert corrected.item == "普通护照签发" and asks_to_confirm(corrected.text) and "11月26日" in corrected.text
    chat.say("冇错")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_a_restated_time_or_a_judgement_then_yes_is_read_without_the_model(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    assert "预约成功" in chat.say("就九点啦").text
    chat.say("帮我约大后天下午去南宁市民中心办护照")
    assert "预约成功" in chat.say("唔算远，就订啦").text
    assert model.prompts == [] and len(confirmed(store)) == 2


def test_withdrawing_the_booking_just_made_goes_to_the_model_and_a_confirmation(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[call("cancel_appointment")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    chat.say("确认")
    asked = chat.say("唔要喇，同我撤咗佢")
    assert asks_to_confirm(asked.text) and len(confirmed(store)) == 1 and len(model.prompts) == 1
    chat.say("撤吧")
    assert confirmed(store) == [] and len(model.prompts) == 1  # the yes is read by the rules


def test_an_appointment_described_as_that_one_is_moved_by_the_rules(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # changing an appointment is decided by the offline rules on both brains: no model is asked
    model = ScriptedChatModel(script=[])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    chat.say("确认")
    chat.say("你好")
    asked = chat.say("后日社保卡嗰个，推到下礼拜一")
    assert "改到" in asked.text and "11月30日" in asked.text
    chat.say("得")
    assert confirmed(store)[0]["date"] == "2026-11-30"
    assert not any("对话理解" in str(prompt[0].content) for prompt in model.prompts)


def test_an_acknowledgement_with_thanks_books_nothing_whatever_the_model_says(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # 好的，谢谢 is read as no yes before any model: at most an aside, and the booking waits
    model = ScriptedChatModel(script=[call("digress", kind="chitchat")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    thanked = chat.say("好嘅，多谢你")
    assert asks_to_confirm(thanked.text) and confirmed(store) == []
    assert "预约成功" in chat.say("确认").text


def test_a_yes_naming_the_offered_district_is_read_without_the_model(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[])
    chat = _chat(make_agent, model)
    chat.say("帮我约后天上午去兴宁区政务服务中心办社保卡")
    assert "预约成功" in chat.say("嗯，就兴宁那里，确认").text
    assert model.prompts == [] and len(confirmed(store)) == 1


def test_an_acknowledgement_goes_to_the_model_and_a_colloquial_yes_books_without_it(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # #19: 好的，我晓得了 agrees to no write, so the model reads it (an aside here); 约起 is the
    # booking verb said colloquially, a yes the gate reads before any model is asked
    model = ScriptedChatModel(script=[call("digress", kind="chitchat")])
    chat = _chat(make_agent, model)
    chat.say(BOOK)
    aside = chat.say("好的，我晓得了")
    assert asks_to_confirm(aside.text) and confirmed(store) == [] and len(model.prompts) == 1
    assert "预约成功" in chat.say("晓得咯，帮我约起").text
    assert len(model.prompts) == 1 and len(confirmed(store)) == 1
