"""The LLM path with scripted chat models: whatever the model asks, the tools hold the rules."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY
from sqlmodel import select

from tests.agent.conftest import Chat
from tests.helpers.fakes import ScriptedChatModel, call, say
from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.service import Agent
from tongban.memory.applications import add_application
from tongban.memory.models import Appointment
from tongban.memory.store import Store


def _chat(make_agent: Callable[..., Agent], model: ScriptedChatModel, **kwargs: object) -> Chat:
    return Chat(make_agent(brain=LLMBrain(model), fallback=OfflineBrain()), **kwargs)  # type: ignore[arg-type]


def _fallbacks() -> float:
    return sum(s.value for m in REGISTRY.collect() if m.name == "tongban_llm_fallbacks" for s in m.samples
               if s.name.endswith("_total"))


def test_grounded_answer_is_labelled_ai_generated(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    # a trade no word of the knowledge reads (奶茶店 reads 食品经营 since items21, #18, and became a
    # close call among the demo items): retrieval places it weakly and the model searches itself
    model = ScriptedChatModel(script=[
        call("search_services", query="开猫咖"),
        say("开猫咖一般需要办理【个体工商户设立登记】（事项编码450000-SJ-0001）和食品经营许可证。"),
    ])
    reply = _chat(make_agent, model).say("我想在南宁开个猫咖，要办什么手续")
    assert reply.ai_generated and "个体工商户" in reply.text
    assert reply.intent == "service_lookup" and reply.item
    tool_messages = [m for m in model.prompts[1] if m.type == "tool"]
    assert tool_messages and "hits" in tool_messages[0].content


def test_a_model_booking_without_confirmation_is_stopped_by_the_tool(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[
        call("book_appointment", item_code="450000-GA-0007", hall="南宁市民中心", date="2026-11-25", period="上午"),
        say("已经为您预约成功。"),
    ])
    reply = _chat(make_agent, model).say("护照在哪里办比较快")
    with store.session() as session:
        assert session.exec(select(Appointment)).all() == []
    assert "请确认" in reply.text and "预约成功" not in reply.text
    assert not reply.ai_generated


def test_progress_is_never_disclosed_through_the_model(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": "GX20261118000123", "item": "居民身份证换领", "hall": "南宁市民中心",
            "applicant": {"name": "王芳", "phone": "13912345678", "id_number": "450203195503124563"},
            "status": "审核中",
        })
    model = ScriptedChatModel(script=[call("query_progress", receipt_no="GX20261118000123"), say("状态是审核中")])
    reply = _chat(make_agent, model, identity=None).say("帮我看看GX20261118000123怎么样了")
    assert "审核中" not in reply.text and "王芳" not in reply.text
    assert model.prompts == [], "progress is decided without the model"


def test_an_unknown_tool_becomes_an_error_result_and_the_turn_goes_on(make_agent) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[
        call("drop_all_tables", confirm=True),
        say("抱歉，我无法执行这个操作。请问您要办理什么事项？"),
    ])
    reply = _chat(make_agent, model).say("帮我看看数据库")
    assert reply.text.startswith("抱歉")
    [error] = [m for m in model.prompts[1] if m.type == "tool"]
    assert error.status == "error" and "未知工具" in error.content


def test_model_failure_falls_back_to_the_offline_brain(make_agent) -> None:  # type: ignore[no-untyped-def]
    before = _fallbacks()
    model = ScriptedChatModel(script=[TimeoutError("model server timed out")])
    reply = _chat(make_agent, model).say("失业了能领钱吗")
    assert reply.item == "失业保险金申领" and not reply.ai_generated
    assert _fallbacks() == before + 1


def test_a_reply_in_another_language_is_not_shown(make_agent) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[say("Sure! Here is everything about unemployment benefits.")])
    reply = _chat(make_agent, model).say("失业了能领钱吗")
    assert "Sure" not in reply.text and reply.item == "失业保险金申领"


def test_personal_data_is_masked_in_everything_sent_to_the_model(make_agent) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[say("好的，已了解。请问您要办理什么事项？")])
    _chat(make_agent, model).say("我叫测试用户，身份证450102199001011231，电话13800000000，想问下开公司的事")
    seen = model.seen()
    assert "450102199001011231" not in seen and "13800000000" not in seen
    assert "4501**********1231" in seen


def test_a_name_the_resident_introduces_is_masked_in_the_prompt(make_agent) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[say("好的，已了解。请问您要办理什么事项？")])
    _chat(make_agent, model).say("我是覃丽华，想问下开公司要准备什么")
    seen = model.seen()
    assert "覃丽华" not in seen and "丽华" not in seen
    assert "我是覃**，想问下开公司要准备什么" in seen


def test_offline_confident_decisions_skip_the_model(make_agent) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[])
    chat = _chat(make_agent, model)
    assert chat.say("转人工").handoff
    assert model.prompts == []


def test_a_city_outside_the_catalog_is_refused_with_the_valid_ones(make_agent) -> None:  # type: ignore[no-untyped-def]
    """Small models invent filters (seen with Qwen2.5 0.5B: city=上海市); the tool says so."""
    model = ScriptedChatModel(script=[
        call("search_services", query="开小吃店", city="上海市"),
        call("search_services", query="开小吃店"),
        say("开小吃店一般要办个体工商户设立登记和食品经营许可证。"),
    ])
    # not a close call between catalog items (those go to the bounded pick, test_clarify): the
    # model plans the search itself
    reply = _chat(make_agent, model).say("我想开个小吃店")
    [error] = [m for m in model.prompts[1] if m.type == "tool"]
    assert error.status == "error" and "南宁市" in error.content
    assert reply.ai_generated and "个体工商户" in reply.text


def test_another_regions_rules_are_not_searched_out_by_the_model(make_agent) -> None:  # type: ignore[no-untyped-def]
    """The region rule holds on both brains: the model would find our 居住证 card, so it is not
    asked; the honest reply stays (or the knowledge base's answer, where it has one)."""
    model = ScriptedChatModel(script=[call("search_services", query="居住证"), say("居住证办理需要…")])
    reply = _chat(make_agent, model).say("我在苏州打工，苏州的居住证要怎么申请")
    assert reply.intent == "out_of_scope" and reply.item is None
    assert model.prompts == []


def test_a_private_partys_thing_is_not_searched_out_by_the_model(make_agent) -> None:  # type: ignore[no-untyped-def]
    """The rule holds on both brains: the model would find our 社会保障卡 card for a bank's
    card, so it is not asked; the honest reply stays."""
    model = ScriptedChatModel(script=[call("service_detail", item_code="450000-RS-0002"), say("社保卡挂失…")])
    reply = _chat(make_agent, model).say("储蓄卡丢了要去柜台挂失吗")
    assert reply.intent == "out_of_scope" and reply.item is None
    assert model.prompts == []

