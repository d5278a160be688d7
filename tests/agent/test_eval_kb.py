"""`tongban eval --kb`: knowledge-base files load into every case once per run, `cites` checks the
first citation, and each turn's JSON carries the reply's citations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import NOW, SHARED
from tongban.agent.evaluation import Templates, load_cases, run_eval
from tongban.agent.service import make_agent
from tongban.memory.store import Store
from tongban.tools.kb.index import KnowledgeIndex
from tongban.tools.settings import ToolsSettings


def test_cites_accepts_one_id_or_a_list(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    rows = [{"id": "a", "turns": [{"say": "问", "expect": {"cites": "dev-0001"}}]},
            {"id": "b", "turns": [{"say": "问", "expect": {"cites": ["dev-0001", "dev-0002"]}}]},
            {"id": "c", "turns": [{"say": "问", "expect": {"cites": []}}]}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    cases, errors = load_cases(path)
    assert [c.turns[0].expect.cites for c in cases] == [["dev-0001"], ["dev-0001", "dev-0002"]]
    assert [e.line for e in errors] == [3]


@pytest.mark.slow  # embeds 40 real answers with the dense model (220 passages, ~20 s of CPU)
def test_a_run_with_a_knowledge_base(tmp_path: Path, service_index) -> None:  # type: ignore[no-untyped-def]
    kb = tmp_path / "车辆问答.jsonl"
    kb.write_text("\n".join((SHARED / "kb" / "dev-docs.jsonl").read_text("utf-8").splitlines()[:40]), "utf-8")
    cases = tmp_path / "cases.jsonl"
    rows = [{"id": "buy", "turns": [{"say": "临时号牌的有效期是多长时间？", "expect": {"cites": "dev-0024"}}]},
            {"id": "wrong", "turns": [{"say": "临时号牌的有效期是多长时间？", "expect": {"cites": "dev-0003"}}]},
            {"id": "item", "turns": [{"say": "换身份证要带什么材料", "expect": {"item": "居民身份证换领"}}]}]
    cases.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    templates = Templates(tmp_path / "run", kb=[kb])
    assert len(templates.kb.parsed) == 1 and not templates.kb.errors
    shared: list[KnowledgeIndex] = []

    def factory(store: Store, now):  # type: ignore[no-untyped-def]
        if not shared:  # as factory_for does: one index for the run, vectors cached by content
            shared.append(KnowledgeIndex(store, ToolsSettings(index_dir=tmp_path / "index"),
                                         check_interval=float("inf")))
        return make_agent(store, clock=lambda: now, index=service_index, knowledge=shared[0])

    out = tmp_path / "result.json"
    result = run_eval(cases, factory, templates=templates, json_path=out)
    assert result.by_key()["cites"] == {"passed": 1, "total": 2}
    turns = {t["case"]: t for t in json.loads(out.read_text("utf-8"))["turns"]}
    assert turns["buy"]["citations"][0] == "dev-0024" and turns["item"]["passed"]
    assert turns["wrong"]["checks"]["cites"] == {"passed": False, "expected": "dev-0003", "got": "dev-0024"}
    # a second run starts at once: nothing is embedded again
    second = Templates(tmp_path / "second", kb=[kb])
    with second.store(NOW.date()) as store:
        again = KnowledgeIndex(store, ToolsSettings(index_dir=tmp_path / "index"))
        assert len(again) == 40 and again.embedder.embedded == 0
    second.close()
    templates.close()


def test_an_unreadable_kb_file_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tongban.agent.evaluation import main_cli

    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "a", "turns": [{"say": "你好"}]}\n', encoding="utf-8")
    bad = tmp_path / "kb.csv"
    bad.write_text("名称,备注\n甲,乙\n", encoding="utf-8")
    assert main_cli(cases, None, None, False, kb=[bad]) == 2
    assert "答案" in capsys.readouterr().out
    assert main_cli(cases, None, None, False, kb=[tmp_path / "missing.jsonl"]) == 2
