"""The soak, short: bench/soak.py for ~40 s on a real `tongban serve`, a few hundred residents.

No errors, no lost replies, no 429 under a realistic load with the default limits, the retention
job actually ageing data out, and the server's RSS flat over the second half (a leak of a few KB
per turn would pass; tens of MB per minute would not). The hour-long run is the documented
command: `python bench/soak.py --duration 3600 --residents 3000`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_RSS_GROWTH_MB = 40.0


def test_short_soak_loses_nothing_and_stays_flat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(ROOT / "bench" / "soak.py"), "--duration", "40", "--residents", "300",
               "--rate", "3", "--sample-every", "5", "--retention-every", "10", "--retain-s", "15",
               "--drain", "60", "--max-rss-growth-mb", str(MAX_RSS_GROWTH_MB), "--json", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    with capsys.disabled():  # the figures belong in CI's log
        print("\n" + run.stdout + run.stderr[-2000:])
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
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
