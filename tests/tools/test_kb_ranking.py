"""What of a knowledge-base entry is matched, and how entries are ranked: courtesy left out on
both sides, an answer matched whole and by its best sentence, a copy of the question passed
over, a pasted text searched like a question."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.tools.conftest import CountingEmbedder
from tongban.memory.knowledge import save_source
from tongban.memory.models import KbEntry
from tongban.memory.store import Store
from tongban.tools.kb.files import read_file
from tongban.tools.kb.index import QUERY_CHARS, KnowledgeIndex
from tongban.tools.kb.passages import entry_passages, strip_boilerplate, strip_opening, units
from tongban.tools.kb.ranking import FIELDS, Ranking, is_copy, pool
from tongban.tools.settings import ToolsSettings

RULE = ("机动车驾驶人有下列交通违法行为之一，一次记3分：（一）驾驶校车、公路客运汽车载人超过核定人数未达到百分之二十的；"
        "（二）驾驶机动车在高速公路或者城市快速路上违法占用应急车道行驶的；（三）驾驶机动车不按规定避让校车的。")


def entry(text: str, title: str = "") -> KbEntry:
    return KbEntry(source_id=1, key="k", title=title, text=text, content_hash="h")


def test_greetings_and_short_sign_offs_are_left_out_of_what_is_matched() -> None:
    assert strip_boilerplate("您好！临时号牌的有效期为30日。如有疑问，请拨打12345热线。") == "临时号牌的有效期为30日。"
    assert strip_boilerplate("您好，感谢您的来电。临时号牌最多可以申领三次。谢谢！") == "临时号牌最多可以申领三次。"
    # a long last sentence says something, even when it starts like a sign-off
    said = "可网上申请。如有疑问，您可在交管12123APP“服务中心”—“业务指南”里查看办理流程图解和所需材料的详细说明。"
    assert strip_boilerplate(said) == said
    assert strip_boilerplate("您好！") == "您好！"  # nothing else: the text stays as it is


def test_a_question_loses_its_courtesy_but_not_its_words() -> None:
    assert strip_opening("您好，请问临时号牌能用多久？") == "临时号牌能用多久？"
    assert strip_opening("请问") == "请问"
    assert strip_opening("临时号牌能用多久") == "临时号牌能用多久"


def test_an_answer_is_matched_whole_and_by_each_of_its_sentences() -> None:
    passages = entry_passages(entry("您好！不可以。驾驶证正证和副证是成套核发的。按照有关规定不能单独补领驾驶证副证。"))
    assert passages[0] == ("text", "不可以。驾驶证正证和副证是成套核发的。按照有关规定不能单独补领驾驶证副证。")
    # 不可以。 alone resembles every question a little: it joins the sentence after it
    assert [t for f, t in passages if f == "sentence"] == ["不可以。驾驶证正证和副证是成套核发的。", "按照有关规定不能单独补领驾驶证副证。"]
    assert entry_passages(entry("临时号牌的有效期为30日。")) == (("text", "临时号牌的有效期为30日。"),)
    faq = entry_passages(entry("先注册再申请。", title="您好，怎么摇号？"))
    assert faq == (("question", "怎么摇号？"), ("text", "先注册再申请。"))
    assert all(len(u) <= 150 for u in units("，".join(["驾驶校车载人超过核定人数未达到百分之二十"] * 20) + "。"))


def test_an_entry_scores_its_whole_answer_and_best_sentence_together() -> None:
    # entry 0: whole 0.80, sentences 0.90 and 0.70; entry 1: a one-sentence answer; entry 2: an FAQ
    # row whose own question matches; entry 3: an FAQ row whose answer says more than its question
    rows = np.array([0, 0, 0, 1, 2, 2, 3, 3])
    fields = np.array([FIELDS.index(f) for f in
                       ("text", "sentence", "sentence", "text", "question", "text", "question", "text")])
    cosines = np.array([0.80, 0.90, 0.70, 0.83, 0.95, 0.80, 0.70, 0.88], dtype=np.float32)
    dense = pool(cosines, rows, fields, 4, Ranking(whole=0.5))
    assert dense.tolist() == pytest.approx([0.85, 0.83, 0.95, 0.88])
    assert pool(cosines, rows, fields, 4, Ranking(whole=1.0))[0] == pytest.approx(0.80)


def test_a_copy_of_the_question_is_no_answer_to_it() -> None:
    ranking = Ranking()
    assert is_copy(RULE, RULE.replace("；", ";").replace("，", ","), ranking)
    assert not is_copy("驾驶人有哪些违法行为将被一次记3分？", RULE, ranking)
    assert not is_copy("", RULE, ranking)


def _save_sheet(store: Store, tmp_path: Path, rows: list[dict[str, str]]) -> None:
    """Store `rows` as an operator's FAQ sheet (faq.jsonl), as `tongban kb import` does."""
    path = tmp_path / "faq.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    parsed = read_file(path)
    with store.session() as session:
        save_source(session, name=path.name, kind=parsed.kind, sha256=parsed.sha256, entries=parsed.entries,
                    lines=parsed.lines)


@pytest.fixture
def pasted_kb(store: Store, tmp_path: Path, embedder: CountingEmbedder) -> KnowledgeIndex:
    """A sheet whose rows hold both directions of one pair (question → rule, rule → question),
    as exported FAQ sheets sometimes do, beside another rule."""
    rows = [{"id": "rule", "text": RULE},
            {"id": "question", "text": "驾驶人有哪些违法行为将被一次记3分？"},
            {"id": "other", "text": "机动车驾驶人初次申领驾驶证后的12个月为实习期，实习期内不得单独驾驶机动车上高速公路行驶。"}]
    _save_sheet(store, tmp_path, rows)
    return KnowledgeIndex(store, ToolsSettings(index_dir=tmp_path / "index"), embedder)


def test_a_pasted_rule_finds_what_it_answers_not_itself(pasted_kb: KnowledgeIndex) -> None:
    assert pasted_kb.search("驾驶人有哪些违法行为将被一次记3分？")[0].key == "rule"
    hits = pasted_kb.search("您好，" + RULE)
    assert hits[0].key == "question" and "rule" not in [h.key for h in hits]


def test_a_very_long_message_is_searched_by_what_the_model_reads(pasted_kb: KnowledgeIndex) -> None:
    message = "实习期内能不能上高速？" + "我想了解一下。" * QUERY_CHARS
    hits = pasted_kb.search(message)
    assert len(message) > 5 * QUERY_CHARS and hits and hits[0].key == "other"


def test_an_entry_that_only_asks_is_told_from_an_answer() -> None:
    from tongban.tools.kb.ranking import only_asks

    assert only_asks("停车人逾期不缴纳道路停车费会受到什么行政处罚？处罚标准是什么？")
    assert only_asks("查处非法小广告的法律依据是什么?")
    assert not only_asks("临时号牌最多可以申领三次。")
    assert not only_asks("可以吗？可以。持身份证到窗口办理。")  # it answers its own question
    assert not only_asks("")


def test_a_typed_question_is_told_from_a_pasted_text() -> None:
    from tongban.tools.kb.ranking import asks

    ranking = Ranking()
    assert asks("临时号牌能用多久", ranking)  # short: a question or a request
    assert asks("我爸爸去年在外地买了一辆二手车，现在想把车过户到我的名下，不知道需要准备什么材料", ranking)
    assert not asks(RULE, ranking)  # long, states something, asks nothing


def test_a_question_is_answered_by_an_answer_not_by_another_question(
    store: Store, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    """A sheet whose question column landed in the text holds a row that only asks; it is the
    nearest thing to a resident's question, yet it answers nothing."""
    rows = [{"id": "asks", "text": "临时号牌最多可以申领几次？"},
            {"id": "answer", "text": "您好！临时号牌最多申领三次。"},
            {"id": "other", "text": "机动车驾驶人初次申领驾驶证后的12个月为实习期。"}]
    _save_sheet(store, tmp_path, rows)
    settings = ToolsSettings(index_dir=tmp_path / "index")
    plain = KnowledgeIndex(store, settings, embedder, ranking=Ranking(kind=0.0))
    assert plain.search("临时牌照能办几回")[0].key == "asks"  # what the mechanism is for
    kinds = KnowledgeIndex(store, settings, embedder)
    assert kinds.search("临时牌照能办几回")[0].key == "answer"


def test_an_enumerated_answer_is_told_from_prose() -> None:
    from tongban.tools.kb.ranking import enumerates

    assert enumerates(RULE)  # （一）…；（二）…
    assert enumerates("1、机动车与该车档案记载内容不一致的；2、属于海关监管的机动车。")
    assert enumerates("申请条件：①年满18周岁；②身体健康。")
    assert not enumerates("临时号牌的有效期为30日，最多申领3次。")
    assert not enumerates("2021年11月1日起，外省号牌机动车进京应办理进京通行证。")  # a date is no item


def test_a_question_asking_which_things_prefers_an_answer_that_lists_them() -> None:
    from tongban.tools.kb.ranking import shape_match

    lists = np.array([True, False])
    assert shape_match("哪些车辆不需要办理进京证", lists, Ranking(shape=0.01)).tolist() == pytest.approx([0.01, 0.0])
    assert shape_match("边啲车唔使办进京证", lists, Ranking(shape=0.01)).tolist() == pytest.approx([0.01, 0.0])
    assert shape_match("进京证怎么办", lists, Ranking(shape=0.01)).tolist() == [0.0, 0.0]  # asks how, not which


def test_a_pasted_text_is_read_as_the_passage_that_answers_a_question() -> None:
    from tongban.tools.kb.ranking import answered_by

    questions = np.array([True, False, True])
    # cosines of the two question-only entries' query vectors against the pasted text
    gained = answered_by(np.array([0.80, 0.86]), questions, Ranking(reverse=4.0, reverse_other=0.02))
    assert gained.tolist() == pytest.approx([-0.24, -0.02, 0.0])
    assert answered_by(np.zeros(0), np.array([False]), Ranking()).tolist() == pytest.approx([-0.02])


def test_a_pasted_rule_finds_its_question_among_close_ones(
    store: Store, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    """Rows that only ask, on one topic: a pasted answer finds the one it answers."""
    rows = [{"id": "points3", "text": "驾驶人有哪些违法行为会被一次记3分？"},
            {"id": "internship", "text": "实习期内可以上高速公路吗？"},
            {"id": "renew", "text": "驾驶证到期了怎么换证？"}]
    _save_sheet(store, tmp_path, rows)
    index = KnowledgeIndex(store, ToolsSettings(index_dir=tmp_path / "index"), embedder)
    pasted = ("实习期内驾驶机动车的，应当在车身后部粘贴或者悬挂统一式样的实习标志。驾驶人在实习期内驾驶机动车"
              "上高速公路行驶，应当由持相应或者更高准驾车型驾驶证三年以上的驾驶人陪同。")
    assert index.search(pasted)[0].key == "internship"
    again = KnowledgeIndex(store, ToolsSettings(index_dir=tmp_path / "index"), embedder)
    assert again.questions.embedded == 0  # the entries' query vectors are kept on disk too


def test_an_answer_that_stands_out_from_the_knowledge_base_is_answered_a_little_below_the_line() -> None:
    """e5 finds every text a little alike: below the line, an entry far above the median entry is
    evidence (a colloquial question), one among many alike is not (chit-chat, an attack)."""
    from tongban.tools.kb.index import Calibration, answerable

    line = Calibration(dense=0.91, slack=0.01, words=8.0, near=0.89, apart=0.055)
    assert answerable({"dense": 0.92, "words": 0.0, "typical": 0.90}, line)  # above the line: always
    assert answerable({"dense": 0.895, "words": 2.0, "typical": 0.835}, line)  # stands out
    assert not answerable({"dense": 0.895, "words": 2.0, "typical": 0.86}, line)  # among many alike
    assert not answerable({"dense": 0.885, "words": 2.0, "typical": 0.80}, line)  # too far below the line
    assert not answerable({"dense": 0.895, "words": 30.0}, line)  # words alone never answer
