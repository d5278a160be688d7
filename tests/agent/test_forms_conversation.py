"""Filling an application form in conversation, through the real agent: only what is missing is
asked, nothing twice, the filled form is shown masked, and only a confirmed form becomes a PDF."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlmodel import select

from tests.agent.conftest import Chat
from tests.conftest import needs_cjk_font
from tests.helpers.fakes import ScriptedChatModel, call
from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.messages import Reply
from tongban.agent.service import Agent
from tongban.memory import forms as form_store
from tongban.memory.models import FormFill, FormFillStatus, Resident
from tongban.memory.store import Store
from tongban.tools.forms import pdf_of

CARD = "6222021001123456789"
RENT_ANSWERS = {  # 住房公积金提取（租房）: the fields the verified identity cannot fill
    "个人住房公积金账号": "100012345678",
    "工作单位": "广西云数科技有限公司",
    "提取原因": "1",
    "租赁房屋地址": "南宁市西乡塘区大学东路88号",
    "月租金（元）": "1500元",
    "收款银行": "中国建设银行",
    "银行卡号": CARD,
}
IDENTITY_LABELS = ("姓名", "公民身份号码", "联系电话")


def asked_label(reply: Reply) -> str | None:
    """The field a reply asks for (请提供X / 请问X是…), if it asks for one."""
    found = re.search(r"请提供(.+?)(?:（18位）|（本人名下的借记卡）)?。|请问(.+?)是(?:哪一项|哪一天)", reply.text)
    return (found.group(1) or found.group(2)) if found else None


def answer_until_confirmation(chat: Chat, first: Reply, answers: dict[str, str]) -> tuple[list[str], Reply]:
    """Answer each question from `answers`; returns the fields asked, in order, and the last reply."""
    asked: list[str] = []
    reply = first
    while (label := asked_label(reply)) is not None:
        asked.append(label)
        assert label in answers, f"asked for {label}, which the test did not expect to be asked"
        assert len(asked) <= 2 * len(answers), f"the form keeps asking: {asked}"
        reply = chat.say(answers[label])
    return asked, reply


def forms_of(store: Store) -> list[FormFill]:
    with store.session() as session:
        return list(session.exec(select(FormFill)))


@needs_cjk_font
def test_a_verified_resident_is_asked_only_what_is_missing_each_thing_once(make_agent: Callable[..., Agent],
                                                                          store: Store) -> None:
    chat = Chat(make_agent(), channel="miniprogram")
    looked_up = chat.say("租房提取公积金怎么办")
    assert looked_up.item == "住房公积金提取（租房）"
    assert "帮我填表" in looked_up.text and "帮我填表" in looked_up.quick_replies
    started = chat.say("帮我填表")
    assert started.intent == "fill_form"
    assert "已根据您的实名信息填好：姓名、公民身份号码、联系电话" in started.text
    asked, confirm = answer_until_confirmation(chat, started, RENT_ANSWERS)
    assert asked == list(RENT_ANSWERS), "every missing field, in the form's order, each asked once"
    assert not set(asked) & set(IDENTITY_LABELS), "nothing the verified identity gives is asked"
    # the filled form, masked
    assert "请核对您的申请表" in confirm.text
    assert "公民身份号码：4501**********1231" in confirm.text and "联系电话：138****0000" in confirm.text
    assert "银行卡号：6222***********6789" in confirm.text and "提取原因：无房职工租住商品住房" in confirm.text
    for secret in ("450102199001011231", "13800000000", CARD, "测试用户", "大学东路88号"):
        assert secret not in confirm.text
    assert [f.status for f in forms_of(store)] == [FormFillStatus.DRAFT], "nothing is final before the yes"
    done = chat.say("确认")
    [fill] = forms_of(store)
    assert fill.status == FormFillStatus.CONFIRMED
    assert f"/forms/{fill.token}.pdf" in done.text and done.cards[0]["type"] == "form"
    with store.session() as session:
        assert b"%PDF" in pdf_of(session, store.vault, fill)[:8]
    again = chat.say("租房提取公积金要带什么材料")
    assert "帮我填表" not in again.text, "the form is offered once per conversation"


def test_personal_answers_never_reach_the_checkpoint_in_clear(make_agent: Callable[..., Agent], store: Store) -> None:
    agent = make_agent()
    chat = Chat(agent)
    asked, _ = answer_until_confirmation(chat, chat.say("帮我填住房公积金提取（租房）的申请表"), RENT_ANSWERS)
    assert len(asked) == len(RENT_ANSWERS)
    with store.session() as session:
        resident_id = session.exec(select(Resident.id).where(Resident.wechat_openid == chat.user)).one()
    saved = repr(agent.graph.get_state({"configurable": {"thread_id": f"resident:{resident_id}"}}).values)
    for secret in (CARD, "100012345678", "大学东路88号", "450102199001011231"):
        assert secret not in saved
    assert "银行卡号：已隐去" in saved, "the history keeps that an answer was given, not what it was"


def test_a_wrong_answer_is_asked_again_with_the_reason_and_nothing_else_repeats(chat: Chat) -> None:
    reply = chat.say("帮我填住房公积金提取（租房）的申请表")
    answers = {**RENT_ANSWERS}
    asked: list[str] = []
    while (label := asked_label(reply)) is not None:
        asked.append(label)
        if label == "银行卡号" and asked.count(label) == 1:
            reply = chat.say("6222021001123456780")  # one digit off: fails the Luhn check
            assert "银行卡号无效" in reply.text
            continue
        reply = chat.say(answers[label])
    assert asked.count("银行卡号") == 2 and len(asked) == len(set(asked)) + 1
    assert "请核对您的申请表" in reply.text


def test_an_unverified_resident_gives_identity_fields_and_is_told_why(make_agent: Callable[..., Agent],
                                                                      store: Store) -> None:
    chat = Chat(make_agent(), user="o-anonymous", identity=None)
    started = chat.say("我要填城乡居民医保参保登记的申请表")
    assert "还没有实名认证" in started.text
    answers = {"姓名": "黄丽", "公民身份号码": "45010319780512102X", "联系电话": "13977125508",
               "户籍地址": "南宁市兴宁区朝阳路1号", "参保人员类别": "学生儿童", "现居住地址": "跳过"}
    asked, confirm = answer_until_confirmation(chat, started, answers)
    assert asked == list(answers)
    assert "公民身份号码：4501**********102X" in confirm.text and "现居住地址：（未填）" in confirm.text
    chat.say("确认")
    [fill] = forms_of(store)
    with store.session():
        values = form_store.values_of(fill, store.vault)
    assert values["id_number"] == "45010319780512102X" and values["_verified"] == ""


def test_a_second_form_reuses_what_the_first_one_asked(chat: Chat) -> None:
    first = chat.say("帮我填社会保障卡申领的申请表")
    asked, _ = answer_until_confirmation(chat, first, {
        "户籍地址": "南宁市青秀区民族大道100号", "领卡银行": "桂林银行", "领卡方式": "邮寄到家", "职业": "跳过"})
    assert asked == ["户籍地址", "领卡银行", "领卡方式", "职业"]
    chat.say("确认")
    second = chat.say("再帮我填城乡居民基本医疗保险参保登记的申请表")
    assert "已根据您上次填写的信息填好：户籍地址" in second.text
    asked, confirm = answer_until_confirmation(chat, second, {"参保人员类别": "普通城乡居民", "现居住地址": "跳过"})
    assert asked == ["参保人员类别", "现居住地址"]
    assert "户籍地址：南宁市青****" in confirm.text


def test_a_question_midway_pauses_the_form_and_it_resumes_where_it_was(chat: Chat) -> None:
    started = chat.say("帮我填住房公积金提取（租房）的申请表")
    assert asked_label(started) == "个人住房公积金账号"
    aside = chat.say("要带什么材料")
    assert aside.intent == "service_lookup" and "需要带的材料" in aside.text
    resumed = chat.say("继续填表")
    assert asked_label(resumed) == "个人住房公积金账号" and "接着刚才的" in resumed.text
    stopped = chat.say("不填了")
    assert "先不填了" in stopped.text
    assert chat.say("100012345678").intent != "fill_form", "after stopping, a number is not taken as an answer"


def test_declining_the_filled_form_confirms_nothing(chat: Chat, store: Store) -> None:
    _, confirm = answer_until_confirmation(chat, chat.say("帮我填住房公积金提取（租房）的申请表"), RENT_ANSWERS)
    assert "请核对您的申请表" in confirm.text
    declined = chat.say("取消")
    assert "申请表先不生成" in declined.text
    assert [f.status for f in forms_of(store)] == [FormFillStatus.DRAFT]


def test_without_an_item_the_agent_lists_the_forms_it_can_fill(chat: Chat) -> None:
    reply = chat.say("我要填表")
    assert reply.intent == "fill_form"
    assert "住房公积金提取（租房）" in reply.text and "结婚登记" in reply.text


def test_erasing_my_data_deletes_my_forms(chat: Chat, store: Store) -> None:
    answer_until_confirmation(chat, chat.say("帮我填住房公积金提取（租房）的申请表"), RENT_ANSWERS)
    chat.say("确认")
    assert len(forms_of(store)) == 1
    assert "预填的申请表" in chat.say("删除我的信息").text
    chat.say("确认")
    assert forms_of(store) == []


def test_a_model_starting_a_form_hands_the_questions_to_the_same_rules(make_agent: Callable[..., Agent],
                                                                      store: Store) -> None:
    model = ScriptedChatModel(script=[call("fill_form", item_code="450000-GJJ-0001")])
    chat = Chat(make_agent(brain=LLMBrain(model), fallback=OfflineBrain()))
    started = chat.say("公积金租房提取那个表能不能直接在这里弄")
    assert started.intent == "fill_form" and not started.ai_generated
    assert "已根据您的实名信息填好" in started.text
    asked, confirm = answer_until_confirmation(chat, started, RENT_ANSWERS)
    assert asked == list(RENT_ANSWERS) and "请核对您的申请表" in confirm.text
    assert len(model.prompts) == 1, "answers go to the form, not to the model"
    assert CARD not in model.seen()


def test_on_the_official_account_the_form_is_kept_for_staff_to_print(chat: Chat, store: Store) -> None:
    """公众号 residents have no browser identity to download with: the reply gives the reference
    the hall prints from instead of a link nobody could open."""
    asked, _ = answer_until_confirmation(chat, chat.say("帮我填住房公积金提取（租房）的申请表"), RENT_ANSWERS)
    done = chat.say("确认")
    [fill] = forms_of(store)
    assert fill.status == FormFillStatus.CONFIRMED
    assert f"预填编号 {fill.id:08d}" in done.text and "转人工" in done.text
    assert fill.token not in done.text
