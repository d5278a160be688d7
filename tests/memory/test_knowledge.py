"""Storing knowledge-base files: upsert by key, nothing lost to a bad file, keys unique across files."""

from __future__ import annotations

from sqlmodel import Session, select

from tongban.memory.knowledge import EntryIn, KbImport, list_sources, remove_source, save_source
from tongban.memory.models import KbEntry
from tongban.memory.store import Store


def _save(session: Session, name: str, *pairs: tuple[str, str], errors: list[tuple[int, str]] | None = None) -> KbImport:
    """Rows from line 2 on, as a sheet under its header would give them."""
    entries = [EntryIn(key=k, text=t, locator=f"第{n}行") for n, (k, t) in enumerate(pairs, start=2)]
    return save_source(session, name=name, kind=name.rsplit(".", 1)[-1], sha256=str(pairs), entries=entries,
                       errors=errors, lines=list(range(2, 2 + len(pairs))))


def _stored(store: Store) -> dict[str, str]:
    with store.read_session() as session:
        return {e.key: e.text for e in session.exec(select(KbEntry))}


def test_reimport_upserts_and_a_clean_file_is_the_truth(any_store: Store) -> None:
    with any_store.session() as session:
        first = _save(session, "faq.csv", ("q1", "答一。"), ("q2", "答二。"), ("q3", "答三。"))
    assert (first.added, first.errors) == (3, [])
    with any_store.session() as session:
        again = _save(session, "faq.csv", ("q1", "答一。"), ("q2", "答二（新）。"))
    assert (again.unchanged, again.changed, again.removed) == (1, 1, 1)
    assert _stored(any_store) == {"q1": "答一。", "q2": "答二（新）。"}


def test_a_file_with_bad_rows_removes_nothing_and_reports_lines(store: Store) -> None:
    with store.session() as session:
        _save(session, "faq.csv", ("q1", "答一。"), ("q2", "答二。"))
    with store.session() as session:
        report = _save(session, "faq.csv", ("q1", "答一（改）。"), ("q1", "重复。"), ("", "没有编号。"),
                       errors=[(9, "答案为空")])
    assert sorted(report.errors) == [(3, "编号 q1 与第 2 行重复"), (4, "缺少编号（id）"), (9, "答案为空")]
    assert _stored(store) == {"q1": "答一（改）。", "q2": "答二。"}  # q2 was not in the bad file, and stays


def test_keys_are_unique_across_files_and_remove_takes_a_file_away(store: Store) -> None:
    with store.session() as session:
        _save(session, "a.jsonl", ("k1", "甲。"))
        clash = _save(session, "b.jsonl", ("k1", "乙。"), ("k2", "丙。"))
    assert clash.errors == [(2, "编号 k1 已被文件 a.jsonl 使用")]
    with store.session() as session:
        assert [(s["name"], s["entries"]) for s in list_sources(session)] == [("a.jsonl", 1), ("b.jsonl", 1)]
        assert remove_source(session, "a.jsonl") == 1
        assert remove_source(session, "missing.csv") == -1
    assert _stored(store) == {"k2": "丙。"}
