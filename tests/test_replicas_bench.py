"""Several replicas, short: bench/replicas.py with two replicas, one SIGKILLed mid-run.

Staff replies written on one replica's console reach residents' live sockets on the other, once;
what waits while a replica is down reaches the page when it reconnects or polls; recordings and
uploads are readable from both replicas; no SMS number is sent past its budget. The documented
run is `python bench/replicas.py --replicas 3 --duration 60 --kill-one --postgres URL --redis URL`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts two servers, HAProxy and the mixed load

ROOT = Path(__file__).resolve().parents[1]
REDIS = os.environ.get("TONGBAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_two_replicas_one_killed_lose_duplicate_and_misroute_nothing(service_index) -> None:  # type: ignore[no-untyped-def]
    base = os.environ.get("TONGBAN_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PostgreSQL not configured: set TONGBAN_TEST_DATABASE_URL to run this test")
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    if not _redis_up():
        pytest.skip(f"Redis not reachable at {REDIS}")
    index_dir = service_index.settings.resolved_index_dir(service_index.store.settings)  # the demo catalog's, built
    command = [sys.executable, str(ROOT / "bench" / "replicas.py"), "--replicas", "2", "--duration", "15",
               "--index-dir", str(index_dir),
               "--kill-one", "--postgres", base, "--redis", REDIS, "--pages", "4", "--reply-every", "1.5",
               "--residents", "10", "--rate", "0.3", "--voice-share", "0.5", "--mp", "1", "--sms-numbers", "2"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    counts = dict(re.findall(r"(\w+)=(\S+)", last))
    assert counts["kills"] == "1" and int(counts["sent"]) > 0
    assert counts["lost"] == counts["duplicated"] == counts["misrouted"] == "0"
    made, crossing = counts["cross_replica"].split("/")
    assert made == crossing and int(crossing) > 0, "staff wrote on one replica, the pages were on the other"
    readable, files = counts["files_everywhere"].split("/")
    assert readable == files and int(files) > 0, "recordings and uploads readable from both replicas"
    assert counts["sms_overruns"] == "0"
