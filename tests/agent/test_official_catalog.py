"""`tongban eval --catalog` (#18): cases run on the items of official catalog files, and the
agent answers the issue's examples on official fields alone (no keywords, no FAQs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from tests.conftest import NOW, SHARED
from tongban.agent.brains.offline import _rivals
from tongban.agent.evaluation import Templates, factory_for, run_eval
from tongban.agent.evaluation import _settings as evaluation_settings
from tongban.memory.models import ServiceItem
from tongban.memory.store import Store
from tongban.tools.retrieval import Hit

OFFICIAL = SHARED / "catalog" / "official-demo.jsonl"


def test_cases_run_on_the_catalog_files_items(tmp_path: Path) -> None:
    cases = [
        ("老人优待证在哪里办", "老年人优待证办理"),  # not 退役军人优待证申领: naming never overrules a clearly better hit
        ("营业执照地址要改", "营业执照变更登记"),  # not 企业设立登记
        ("驾照快到期了", "机动车驾驶证换证"),
    ]
    _run_on_official(tmp_path, cases)


def test_a_new_car_is_registered_on_the_official_catalog(tmp_path: Path) -> None:
    """上牌 is no cue word, but the thesaurus knows it as a thing of service: not out of scope."""
    _run_on_official(tmp_path, [("新买的车怎么上牌", "机动车注册登记")])


def _run_on_official(tmp_path: Path, cases: list[tuple[str, str]]) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"c{i}", "turns": [{"say": say, "expect": {"item": item}}]},
                                         ensure_ascii=False) for i, (say, item) in enumerate(cases)), encoding="utf-8")
    templates = Templates(tmp_path / "templates", catalogs=(OFFICIAL,))
    result = run_eval(path, factory_for(False), templates=templates)
    store = Store.from_settings(evaluation_settings(templates.template(NOW.date())))
    try:
        with store.read_session() as session:
            items = session.exec(select(ServiceItem)).all()
        # the official file replaced the curated demo items: same names, no keywords or FAQs
        assert len(items) == sum(1 for line in OFFICIAL.read_text(encoding="utf-8").splitlines() if line.strip())
        assert all(not i.keywords and not i.faqs for i in items)
    finally:
        store.dispose()
        templates.close()
    failed = [(t.case, t.item) for t in result.turns if not t.passed]
    assert not failed and len(result.turns) == len(cases)


def test_another_catalog_alone_leaves_no_demo_item_behind(tmp_path: Path) -> None:
    """Demo items that demo applications or appointments referred to stayed, keywords and all,
    and drew questions meant for the file's items; the template now holds the file's items only."""
    from tongban.memory.models import Application, Appointment

    real = SHARED / "catalog" / "real" / "sichuan-guangan.jsonl"
    templates = Templates(tmp_path / "templates", catalogs=(real,))
    store = Store.from_settings(evaluation_settings(templates.template(NOW.date())))
    try:
        with store.read_session() as session:
            names = set(session.exec(select(ServiceItem.name)))
            ids = set(session.exec(select(ServiceItem.id)))
            refers = {*session.exec(select(Application.item_id)), *session.exec(select(Appointment.item_id))}
    finally:
        store.dispose()
        templates.close()
    expected = {json.loads(line)["name"] for line in real.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert names == expected, sorted(names - expected)[:5]
    assert refers <= ids


def test_naming_chooses_only_among_hits_retrieval_ranked_close() -> None:
    """Closeness is read on retrieval's own order (the names' object and action included), not
    on the fused score alone: a name that merely holds a word the question said stays out."""
    def hit(name: str, score: float, ranked: float) -> Hit:
        return Hit(item_id=0, code=name, name=name, department="", legal_basis=(), passage="",
                   score=score, signals={"ranked": ranked})

    first = hit("企业设立登记", 0.87, 1.20)  # first once its object and action count
    fused_higher = hit("非公司企业法人分支机构设立登记", 0.97, 0.97)
    close = hit("公司备案", 0.80, 1.15)
    assert _rivals([first, fused_higher, close]) == [first, close]
    named_whole = hit("无犯罪记录证明开具", 0.97, 0.97)
    named_whole.signals["named"] = 7.0  # the question names its object whole
    assert _rivals([first, named_whole]) == [first, named_whole]
    first.signals["structure"] = 0.020  # 开 read as 设立 of 企业 (公司): no object of the rival read
    assert _rivals([first, named_whole]) == [first, named_whole]
    # named whole, but behind by the action retrieval read (its follow-up unsaid): no rival (items19)
    wanted = hit("不动产转移登记", 1.0, 1.30)
    wanted.signals["structure"] = 0.020
    follow_up = hit("不动产权证书补发", 0.97, 1.06)
    follow_up.signals.update(named=6.0, structure=0.006)
    assert _rivals([wanted, follow_up]) == [wanted]
    follow_up.signals["structure"] = 0.016  # as good an object, its action not against it
    assert _rivals([wanted, follow_up]) == [wanted, follow_up]


def test_a_state_word_in_the_name_of_the_item_found_asks_for_that_item(monkeypatch: pytest.MonkeyPatch) -> None:
    """状态 is a progress word, but when the item the words and vectors agree on holds it in its
    name (社会保障卡应用状态查询), the question asks for that item (items19, #18)."""
    from tongban.agent.brains.offline import OfflineBrain

    def hit(name: str, named: float) -> Hit:
        return Hit(item_id=0, code=name, name=name, department="", legal_basis=(), passage="",
                   score=1.0, signals={"named": named})

    brain = OfflineBrain()
    found = hit("社会保障卡应用状态查询", 2.0)
    monkeypatch.setattr(brain, "_search", lambda *args, **kwargs: found)
    assert brain._names_a_state_item("社保卡的状态在哪查", None, None, None)  # type: ignore[arg-type]
    found = hit("社会保障卡申领", 2.0)
    assert not brain._names_a_state_item("社保卡申请的状态", None, None, None)  # type: ignore[arg-type]
    found = hit("社会保障卡应用状态查询", 0.0)  # neither named nor agreed on: an application's progress
    assert not brain._names_a_state_item("我的申请状态", None, None, None)  # type: ignore[arg-type]
