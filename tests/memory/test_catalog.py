"""Catalog import/export: line-numbered errors, bad rows skipped, good data kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import func, select
from typer.testing import CliRunner

from tests.conftest import SHARED, TODAY
from tongban.memory.catalog import export_items, import_applications, import_items, read_rows
from tongban.memory.models import Application, HallItem, ServiceItem
from tongban.memory.store import Store

GOOD = {
    "code": "450000-TEST-0001", "name": "测试事项登记", "department": "测试部门",
    "legal_basis": ["《测试条例》"], "materials": [{"name": "居民身份证", "form": "原件", "count": 1}],
    "steps": ["申请", "受理", "办结"], "keywords": ["测试"], "halls": ["南宁市民中心"],
}


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    return path


def _count(store: Store) -> int:
    with store.session() as session:
        return session.exec(select(func.count()).select_from(ServiceItem)).one()


def test_bad_rows_are_reported_by_line_and_good_rows_land(store: Store, tmp_path: Path) -> None:
    before = _count(store)
    path = _write(tmp_path / "catalog.jsonl", [
        GOOD,
        "{not json",
        {**GOOD, "code": "450000-TEST-0002", "name": "缺部门事项", "department": ""},
        {**GOOD, "code": "450000-TEST-0003", "name": "未知大厅事项", "halls": ["火星政务服务中心"]},
        {**GOOD, "code": "450000-TEST-0004", "name": "材料格式错", "materials": [{"form": "原件"}]},
    ])
    with store.session() as session:
        report = import_items(session, read_rows(path))
    assert report.imported == 1
    assert [line for line, _ in report.errors] == [2, 3, 4, 5]
    assert "JSON" in report.errors[0][1]
    assert "department" in report.errors[1][1]
    assert "火星政务服务中心" in report.errors[2][1]
    assert "materials" in report.errors[3][1]
    assert _count(store) == before + 1


def test_import_updates_by_code_and_never_removes(store: Store, tmp_path: Path) -> None:
    before = _count(store)
    with store.session() as session:
        import_items(session, read_rows(_write(tmp_path / "a.jsonl", [GOOD])))
        import_items(session, read_rows(_write(tmp_path / "b.jsonl", [{**GOOD, "fee": "工本费5元"}])))
        item = session.exec(select(ServiceItem).where(ServiceItem.code == GOOD["code"])).one()
        assert item.fee == "工本费5元"
        assert session.exec(select(HallItem).where(HallItem.item_id == item.id)).all()
    assert _count(store) == before + 1


def test_export_then_import_round_trips_in_both_formats(store: Store, tmp_path: Path) -> None:
    for name in ("catalog.jsonl", "catalog.csv"):
        path = tmp_path / name
        with store.session() as session:
            exported = export_items(session, path)
            report = import_items(session, read_rows(path))
        assert report.ok, report.errors
        assert report.imported == exported == _count(store)


def test_application_import_rejects_bad_id_numbers_and_unknown_items(store: Store, tmp_path: Path) -> None:
    good = {
        "receipt_no": "GX20261101000001", "item": "结婚登记", "hall": "桂林市政务服务中心",
        "applicant": {"name": "李明", "phone": "13700001111", "id_number": "450102199001011231"},
        "status": "已受理", "events": [{"status": "已受理", "at": "2026-11-01T09:00:00+08:00"}],
    }
    path = _write(tmp_path / "apps.jsonl", [
        good,
        {**good, "receipt_no": "GX20261101000002", "applicant": {**good["applicant"], "id_number": "450102199001011232"}},
        {**good, "receipt_no": "GX20261101000003", "item": "不存在的事项"},
        {**good, "receipt_no": "12345"},
    ])
    with store.session() as session:
        report = import_applications(session, store.vault, read_rows(path))
        count = session.exec(select(func.count()).select_from(Application).where(Application.receipt_no.like("GX202611010%"))).one()
    assert report.imported == 1 and count == 1
    assert [line for line, _ in report.errors] == [2, 3, 4]
    assert "身份证" in report.errors[0][1]
    assert "不存在的事项" in report.errors[1][1]


def test_cli_import_reports_line_numbers_and_exit_status(store: Store, tmp_path: Path, monkeypatch) -> None:
    from tongban.channels.cli import app

    monkeypatch.setenv("TONGBAN_DATABASE_URL", str(store.engine.url))
    monkeypatch.setenv("TONGBAN_DATA_DIR", str(tmp_path))
    path = _write(tmp_path / "c.jsonl", [GOOD, "{oops"])
    result = CliRunner().invoke(app, ["catalog", "import", str(path)])
    assert result.exit_code == 1
    assert re.search(r"c\.jsonl:2: JSON", result.output)
    assert "导入 1 行" in result.output


def test_demo_catalog_has_every_required_item_and_hall(store: Store) -> None:
    from tongban.memory.demo import catalog_rows, hall_rows

    required = (SHARED / "catalog" / "REQUIRED.md")
    names = {r["name"] for r in catalog_rows()}
    halls = {h["name"] for h in hall_rows()}
    if required.exists():
        text = required.read_text("utf-8")
        table = [line for line in text.splitlines() if line.startswith("| ") and "·" in line]
        wanted = {n.strip() for line in table for n in line.split("|")[2].split("·")}
        assert wanted <= names, wanted - names
        hall_line = text.split("## Service halls")[1].split("\n", 1)[1].split("Every")[0]
        assert {h.strip() for h in hall_line.replace("\n", " ").split("·") if "中心" in h} <= halls
    for row in catalog_rows():
        assert row["legal_basis"] and len(row["materials"]) >= 2 and len(row["steps"]) >= 3, row["name"]
        assert row["faqs"] and row["keywords"], row["name"]


def test_starting_again_never_overwrites_the_operators_catalog(store: Store) -> None:
    """Demo data goes only into an empty catalog: an edited or removed demo item stays as the
    operator left it when the server (or `tongban init`) starts again; slots are still opened."""
    from tongban.memory.models import Slot

    with store.session(actor="test") as session:
        used = set(session.exec(select(Application.item_id)).all())
        items = session.exec(select(ServiceItem)).all()
        edited = items[0]
        removed = next(i for i in items if i.id not in used and i.id != edited.id)
        edited.keywords = ["运营方自己加的词"]
        edited.description = "运营方改过的说明"
        session.add(edited)
        removed_code = removed.code
        for link in session.exec(select(HallItem).where(HallItem.item_id == removed.id)).all():
            session.delete(link)
        session.flush()
        session.delete(removed)
    summary = store.initialise(today=TODAY)
    assert summary["items"] == 0 and summary["kept"] == 1
    with store.session(actor="test") as session:
        again = session.exec(select(ServiceItem).where(ServiceItem.code == edited.code)).one()
        assert again.keywords == ["运营方自己加的词"] and again.description == "运营方改过的说明"
        assert session.exec(select(ServiceItem).where(ServiceItem.code == removed_code)).first() is None
        assert session.exec(select(Slot).limit(1)).first() is not None
