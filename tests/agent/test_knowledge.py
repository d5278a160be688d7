"""Policy questions answered from the operator's knowledge base, with citations; item questions
keep their card; what the knowledge base cannot answer surely is said honestly; the LLM brain's
answer must rest on the entries it cites.

The knowledge base here is the first 40 real answers of ../shared/kb/dev-docs.jsonl (Beijing
12345 knowledge about vehicles: close topics, so the right entry must win against near ones).
The questions are residents' own phrasings written for these tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from tests.agent.conftest import Chat
from tests.conftest import NOW, SHARED
from tests.helpers.fakes import ScriptedChatModel, say
from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.service import Agent
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.knowledge import save_source
from tongban.memory.models import QuestionLog
from tongban.memory.store import Store
from tongban.tools.kb.files import read_file
from tongban.tools.kb.index import KnowledgeIndex
from tongban.tools.settings import ToolsSettings

ENTRIES = 40
# embeds 62 real answers with the dense model (~100 ms of CPU a passage, 340 passages)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = (SHARED / "kb" / "dev-docs.jsonl").read_text(encoding="utf-8").splitlines()[:ENTRIES]
    path = tmp_path_factory.mktemp("kb") / "车辆问答.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vectors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One passage-vector cache for the module: the 40 answers are embedded once."""
    return tmp_path_factory.mktemp("kb-index")


def load(store: Store, path: Path) -> None:
    parsed = read_file(path)
    with store.session() as session:
        save_source(session, name=path.name, kind=parsed.kind, sha256=parsed.sha256, entries=parsed.entries,
                    lines=parsed.lines)


@pytest.fixture
def knowledge(store: Store, kb_file: Path, vectors: Path) -> KnowledgeIndex:
    load(store, kb_file)
    return KnowledgeIndex(store, ToolsSettings(index_dir=vectors))


@pytest.fixture
def kb_agent(store: Store, service_index, knowledge: KnowledgeIndex) -> Iterator[Agent]:  # type: ignore[no-untyped-def]
    yield Agent(store, clock=lambda: NOW, index=service_index, knowledge=knowledge,
                checkpointer=sqlite_checkpointer(":memory:"))


def test_a_policy_question_gets_the_entry_with_its_source(kb_agent: Agent) -> None:
    reply = Chat(kb_agent).say("临时号牌的有效期是多长时间？")
    assert reply.citations[:1] == ["dev-0024"]
    assert "出处" in reply.text and "dev-0024" in reply.text and "车辆问答.jsonl" in reply.text
    assert reply.intent == "service_lookup" and not reply.ai_generated


def test_sms_gets_a_short_answer_with_a_link(kb_agent: Agent) -> None:
    reply = Chat(kb_agent, channel="sms", user="13900001111", identity=None).say("临时号牌的有效期是多长时间")
    assert reply.citations[:1] == ["dev-0024"]
    chat = Chat(kb_agent, user="o-web").say("临时号牌的有效期是多长时间")
    assert len(reply.text) < len(chat.text) or "/kb/dev-0024" in reply.text


def test_item_questions_still_get_the_item_card(kb_agent: Agent) -> None:
    reply = Chat(kb_agent).say("换身份证要带什么材料")
    assert reply.item == "居民身份证换领" and reply.text.startswith("【居民身份证换领】")
    assert reply.cards[0]["type"] == "item"  # a related policy answer, if any, comes after the guide


@pytest.mark.parametrize("text", ["你好", "今天南宁天气怎么样", "给我讲个笑话"])
def test_out_of_scope_stays_out_of_scope_with_a_knowledge_base(kb_agent: Agent, text: str) -> None:
    reply = Chat(kb_agent).say(text)
    assert reply.citations == [] and reply.intent in ("chitchat", "out_of_scope")


def test_an_unanswerable_policy_question_is_told_honestly_and_logged(kb_agent: Agent, store: Store) -> None:
    reply = Chat(kb_agent).say("火星移民要排队吗？")
    assert reply.citations == [] and "没有找到可靠的答案" in reply.text and "转人工" in reply.quick_replies
    Chat(kb_agent, user="o-other").say("临时号牌的有效期是多长时间？")
    with store.read_session() as session:
        logged = {(r.kind, r.kb_key, r.text_masked) for r in session.exec(select(QuestionLog))}
    assert ("kb_miss", None, "火星移民要排队吗？") in logged
    assert ("kb_answered", "dev-0024", None) in logged


def test_unchanged_entries_are_never_embedded_again(store: Store, kb_file: Path, tmp_path: Path) -> None:
    load(store, kb_file)
    settings = ToolsSettings(index_dir=tmp_path / "index")
    first = KnowledgeIndex(store, settings)
    assert first.embedder.embedded > 0 and len(first) == ENTRIES
    load(store, kb_file)  # the same file again
    assert KnowledgeIndex(store, settings).embedder.embedded == 0
    with store.session() as session:  # removed and imported anew: new rows, same texts
        from tongban.memory.knowledge import remove_source

        remove_source(session, kb_file.name)
    load(store, kb_file)
    again = KnowledgeIndex(store, settings)
    assert again.embedder.embedded == 0 and again.search("临时号牌可以办几次")[0].key == "dev-0025"


def _agent_with(store: Store, service_index, path: Path, vectors: Path, wanted: set[str]) -> Agent:  # type: ignore[no-untyped-def]
    """An agent whose knowledge base holds the entries `wanted` of the shared dev answers, loaded
    from a sheet at `path`."""
    lines = [line for line in (SHARED / "kb" / "dev-docs.jsonl").read_text(encoding="utf-8").splitlines()
             if json.loads(line)["id"] in wanted]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load(store, path)
    knowledge = KnowledgeIndex(store, ToolsSettings(index_dir=vectors))
    return Agent(store, clock=lambda: NOW, index=service_index, knowledge=knowledge,
                 checkpointer=sqlite_checkpointer(":memory:"))


@pytest.fixture
def traffic_agent(store: Store, service_index, tmp_path_factory: pytest.TempPathFactory, vectors: Path) -> Agent:  # type: ignore[no-untyped-def]
    """A knowledge base of Beijing traffic answers on reporting violations, inspections and
    ride-hailing drivers (entries dev-0120 to dev-0135 and dev-0160 to dev-0165)."""
    return _agent_with(store, service_index, tmp_path_factory.mktemp("kb") / "交通问答.jsonl", vectors,
                       {f"dev-{n:04d}" for n in (*range(120, 136), *range(160, 166))})


def test_asking_how_to_report_gets_the_rules_and_asking_to_report_gets_staff(traffic_agent: Agent) -> None:
    asked = Chat(traffic_agent).say("看到有车占用应急车道，怎么举报？")
    assert asked.citations[:1] == ["dev-0126"] and asked.intent == "service_lookup" and "转人工" in asked.quick_replies
    assert Chat(traffic_agent, user="o-other").say("我要举报").intent == "handoff"


@pytest.mark.parametrize("text", ["交通违法能不能叫人替我去执法站处理", "违章可不可以找人代我去窗口处理"])
def test_a_yes_or_no_question_about_handing_off_gets_the_rules(traffic_agent: Agent, text: str) -> None:
    """能不能叫人… asks whether someone else may go, as 怎么举报 asks how to report: the rules answer it."""
    reply = Chat(traffic_agent).say(text)
    assert reply.intent == "service_lookup" and reply.citations[:1] == ["dev-0122"]


@pytest.mark.parametrize("text", ["可不可以转人工", "能不能帮我转人工", "可以找工作人员吗"])
def test_a_request_for_staff_asked_as_a_question_is_still_a_request(traffic_agent: Agent, text: str) -> None:
    reply = Chat(traffic_agent).say(text)
    assert reply.intent == "handoff" and reply.citations == []


def test_asking_how_another_office_books_gets_its_rules_not_a_hall_appointment(traffic_agent: Agent) -> None:
    reply = Chat(traffic_agent).say("车辆年检怎么在网上预约验车？")
    assert reply.intent == "service_lookup" and reply.citations[:1] == ["dev-0134"]


@pytest.fixture
def lottery_agent(store: Store, service_index, tmp_path_factory: pytest.TempPathFactory, vectors: Path) -> Agent:  # type: ignore[no-untyped-def]
    """A knowledge base of Beijing answers on car-quota family applications, licence cancellation
    and the traffic service platform (entries dev-0150 to dev-0160, dev-0071 and dev-0128)."""
    return _agent_with(store, service_index, tmp_path_factory.mktemp("kb") / "指标问答.jsonl", vectors,
                       {f"dev-{n:04d}" for n in (*range(150, 161), 71, 128)})


@pytest.mark.parametrize("text", [
    "家庭摇号申请已经提交了，想改家庭成员信息，要先取消申请吗？怎么操作",  # 取消: a cancellation word
    "小客车指标家庭申请状态显示已提交待审核，怎么修改申请人信息",  # 状态: a progress word
    "家庭摇号申请已经提交了，想撤销可以吗",  # 撤销 asked as a yes-or-no question
])
def test_asking_how_to_cancel_or_about_an_application_state_gets_the_rules(lottery_agent: Agent, text: str) -> None:
    reply = Chat(lottery_agent).say(text)
    assert reply.intent == "service_lookup" and reply.citations[:1] == ["dev-0158"]


@pytest.mark.parametrize(("text", "intent"), [
    ("取消我明天的预约", "cancel_appointment"),
    ("怎么取消预约", "cancel_appointment"),
    ("帮我查一下办件进度", "query_progress"),
    ("我的申请状态怎么查", "query_progress"),  # the resident's own case: the action, not the rules
])
def test_requests_and_own_cases_keep_their_action_with_a_knowledge_base(
        lottery_agent: Agent, text: str, intent: str) -> None:
    reply = Chat(lottery_agent).say(text)
    assert reply.intent == intent and reply.citations == []


@pytest.fixture
def licence_agent(store: Store, service_index, tmp_path_factory: pytest.TempPathFactory, vectors: Path) -> Agent:  # type: ignore[no-untyped-def]
    """A knowledge base of Beijing answers on driving licences: renewal, validity, expiry
    (entries dev-0045 to dev-0050)."""
    return _agent_with(store, service_index, tmp_path_factory.mktemp("kb") / "驾驶证问答.jsonl", vectors,
                       {f"dev-{n:04d}" for n in range(45, 51)})


def test_an_item_question_the_knowledge_base_also_answers_gets_both(licence_agent: Agent) -> None:
    """The item is not named (驾照 快过期), yet words and vectors agree on it: the policy answer
    with its source, and the item's guide beside it."""
    reply = Chat(licence_agent).say("驾照下个月就过期了，最早什么时候可以去换")
    assert reply.intent == "service_lookup" and reply.item == "机动车驾驶证换证"
    assert reply.citations and {card["type"] for card in reply.cards} >= {"item", "kb"}


def _llm_agent(store: Store, service_index, knowledge: KnowledgeIndex, text: str) -> tuple[Agent, ScriptedChatModel]:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=[say(text)])
    agent = Agent(store, brain=LLMBrain(model), fallback=OfflineBrain(), clock=lambda: NOW, index=service_index,
                  knowledge=knowledge, checkpointer=sqlite_checkpointer(":memory:"))
    return agent, model


def test_the_llm_answers_from_the_passages_and_cites_them(store: Store, service_index, knowledge: KnowledgeIndex) -> None:  # type: ignore[no-untyped-def]
    agent, model = _llm_agent(store, service_index, knowledge,
                              "新购买、尚未注册登记的机动车需要临时上道路行驶的，核发有效期不超过三十日的临时行驶车号牌；"
                              "进行科研、定型试验的机动车，有效期不超过六个月【dev-0024】。")
    reply = Chat(agent).say("临时号牌的有效期是多长时间？")
    prompt = json.dumps([m.content for m in model.prompts[0]], ensure_ascii=False)
    assert "dev-0024" in prompt  # the model saw the retrieved entries
    assert reply.citations == ["dev-0024"] and "出处" in reply.text


def test_an_ungrounded_llm_answer_falls_back_to_the_offline_one(store: Store, service_index, knowledge: KnowledgeIndex) -> None:  # type: ignore[no-untyped-def]
    agent, _ = _llm_agent(store, service_index, knowledge,
                          "临时号牌永久有效，想用多久就用多久，也不需要再去上正式号牌【dev-0024】。")
    reply = Chat(agent).say("临时号牌的有效期是多长时间？")
    assert not reply.ai_generated and reply.citations == ["dev-0024"] and "永久有效" not in reply.text
