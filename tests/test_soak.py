"""The soak, short: bench/soak.py for ~40 s on a real `tongban serve`, a few hundred residents.

No errors, no lost replies, no 429 under a realistic load with the default limits, the retention
job actually ageing data out, and the server's RSS flat over the second half (a leak of a few KB
per turn would pass; tens of MB per minute would not). The hour-long run is the documented
command: `python bench/soak.py --duration 3600 --residents 3000`.

It ends with the privacy scan (issue #11): the ID numbers and phones the residents typed are in
clear nowhere in the server's log, the database, the checkpoints or the data dir's files. The
scan's own tests below show it finds a planted clear number and passes a masked one.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tongban.memory.pii import is_valid_id_number, mask_text, normalise_phone

pytestmark = pytest.mark.slow  # a soak run against a real server

ROOT = Path(__file__).resolve().parents[1]
MAX_RSS_GROWTH_MB = 40.0
PHONE, ID_NUMBER = "13877776666", "45010219850314104X"  # fictitious; the ID passes GB 11643


def _soak() -> ModuleType:
    """bench/soak.py as a module (bench/ is no package)."""
    if "soak" not in sys.modules:
        spec = importlib.util.spec_from_file_location("soak", ROOT / "bench" / "soak.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["soak"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["soak"]


def test_short_soak_loses_nothing_and_stays_flat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(ROOT / "bench" / "soak.py"), "--duration", "40", "--residents", "300",
               "--rate", "3", "--sample-every", "5", "--retention-every", "10", "--retain-s", "15",
               "--drain", "60", "--max-rss-growth-mb", str(MAX_RSS_GROWTH_MB), "--json", str(out),
               "--personal-every", "10"]  # the four kinds of personal-data session, in 40 s
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    with capsys.disabled():  # the figures belong in CI's log
        print("\n" + run.stdout + run.stderr[-2000:])
    report = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    privacy = report.get("privacy", {})
    assert privacy.get("hits", [None]) == [], f"numbers residents sent, found in clear (masked here): {privacy}"
    assert run.returncode == 0, run.stderr[-3000:]
    assert report["errors"] == 0, report["outcomes"]
    assert report["lost"] == 0 and report["pushes_unexpected"] == 0, report["outcomes"]
    assert report["throttled_server_side"] == 0, "a realistic load must never meet the rate limits"
    kinds = report["kinds"]
    assert kinds["web text"]["n"] > 10 and kinds["wechat ack"]["n"] > 10
    if not report["voice"].startswith("off"):
        assert kinds["web voice"]["n"] > 0
    storage = report["storage"]
    assert storage["retention_runs"] >= 2 and storage["purged"]["inbound"] + storage["purged"]["transcript"] > 0, \
        "the retention job ran and aged data out"
    assert storage["bounded"], storage
    assert report["rss"]["second_half_growth_mb"] < MAX_RSS_GROWTH_MB, report["rss"]
    assert privacy["numbers_sent"] > 0 and privacy["personal_sessions"] > 0, privacy
    assert privacy["log_lines"] > 0 and privacy["rows_scanned"] > 0 and privacy["files_scanned"] > 0, privacy
    assert privacy["db_scans"] > 2, "before the retention runs, and at the end"


@pytest.mark.logs_personal_data  # it plants clear numbers in a database for the scan to find
def test_privacy_scan_finds_a_clear_number_and_passes_a_masked_one(tmp_path: Path) -> None:
    soak = _soak()
    numbers = {PHONE: "phone sent by resident 1", ID_NUMBER: "ID number sent by resident 1"}
    clean, leaky = tmp_path / "clean", tmp_path / "leaky"
    for folder, say in ((clean, mask_text), (leaky, lambda text: text)):
        folder.mkdir()
        text = say(f"我的身份证号是{ID_NUMBER}，手机+86{PHONE}")
        (folder / "server.log").write_text(f"INFO start\nINFO turn: {text}\n", encoding="utf-8")
        with sqlite3.connect(folder / "tongban.db") as db:
            db.execute("CREATE TABLE inbound_message (id INTEGER PRIMARY KEY, reply JSON, note TEXT)")
            db.execute("INSERT INTO inbound_message VALUES (1, ?, 'ok')", (json.dumps({"text": text}, ensure_ascii=False),))
        with sqlite3.connect(folder / "checkpoints.db") as db:  # a msgpack-like blob: strings are raw UTF-8
            db.execute("CREATE TABLE writes (thread_id TEXT, value BLOB)")
            db.execute("INSERT INTO writes VALUES ('web:7', ?)", (b"\x92\xa4said\xd9\x40" + text.encode(),))
        db.close()

    scan = soak.PrivacyScan(dict(numbers))
    scan.log(clean / "server.log")
    scan.databases(f"sqlite:///{clean / 'tongban.db'}", clean)
    scan.files(clean, skip=(clean / "server.log",))
    figures = scan.report()
    assert figures["hits"] == [], figures["hits"]
    assert figures["log_lines"] == 2 and figures["rows_scanned"] == 2 and figures["files_scanned"] == 2

    scan = soak.PrivacyScan(dict(numbers))
    scan.log(leaky / "server.log")
    scan.databases(f"sqlite:///{leaky / 'tongban.db'}", leaky)
    scan.files(leaky, skip=(leaky / "server.log",))
    figures = scan.report()
    where = {(hit["where"], hit["number"]) for hit in figures["hits"]}
    for masked in ("138****6666", "4501**********104X"):
        assert ("server.log line 2", masked) in where
        assert ("tongban.db inbound_message.reply (id=1)", masked) in where
        assert ("checkpoints.db writes.value (thread_id=web:7)", masked) in where
        assert ("file checkpoints.db", masked) in where
    assert figures["hits_total"] == len(where) == 10  # the two files, as rows and raw, and the log line
    assert PHONE not in json.dumps(figures) and ID_NUMBER not in json.dumps(figures), "hits are shown masked"

    scan = soak.PrivacyScan(dict(numbers))  # the pre-retention scan: only the tables retention deletes from
    scan.databases(f"sqlite:///{leaky / 'tongban.db'}", leaky, only=("writes",))
    assert {hit["where"] for hit in scan.report()["hits"]} == {"checkpoints.db writes.value (thread_id=web:7)"}


def test_personal_numbers_are_valid_and_follow_the_seed() -> None:
    soak = _soak()
    drawn = [soak.personal_numbers(11, n) for n in range(200)]
    assert drawn == [soak.personal_numbers(11, n) for n in range(200)]
    assert len({phone for phone, _ in drawn}) == len({id_number for _, id_number in drawn}) == 200
    for phone, id_number in drawn:
        assert normalise_phone(phone) == phone and phone[1] in "3456789"
        assert is_valid_id_number(id_number)
    assert soak.personal_numbers(12, 0) != drawn[0]
    scripts = [soak.personal_script(11, 5, k, soak.demo_applicants()) for k in range(4)]
    phone, id_number = drawn[5]
    assert phone in scripts[0][0] and id_number[-4:] in scripts[0][0]
    assert phone in scripts[1][1] and id_number in scripts[2][0] and scripts[2][1:] == ["确认", "我的预约", "取消预约", "确认"]
