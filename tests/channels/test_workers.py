"""`tongban serve --workers N`: N processes share the port on PostgreSQL, each answering, and
stop together; on the embedded SQLite database (one writer) more than one is refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from tongban.channels.cli import app
from tongban.memory.store import Store


def test_more_than_one_worker_on_sqlite_is_refused_with_the_reason(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TONGBAN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TONGBAN_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--port", "1"])
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output and "SQLite" in result.output
    assert not list(tmp_path.glob("*.db")), "nothing started, nothing written"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return 0


@pytest.mark.slow
def test_two_workers_share_the_port_answer_and_stop_together(pg_store: Store, tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    env.update(TONGBAN_DATA_DIR=str(tmp_path), TONGBAN_DATABASE_URL=pg_store.settings.url, PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "tongban", "serve", "--port", str(port), "--workers", "2"],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(server.pid)
    try:
        deadline = time.monotonic() + 240
        streak = 0
        while streak < 30:  # each request a new connection: the kernel hands them to either process
            assert server.poll() is None and time.monotonic() < deadline, "never ready"
            if len(parent.children()) == 1 and _status(f"{base}/readyz") == 200:
                streak += 1
            else:
                streak = 0
                time.sleep(0.5)
        request = urllib.request.Request(
            f"{base}/api/web/messages", data=json.dumps({"text": "身份证到期了怎么换"}).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200 and "身份证" in json.loads(response.read())["text"]
        (child,) = parent.children()
        listening = {c.laddr.port for p in (parent, child) for c in p.net_connections("tcp") if c.status == "LISTEN"}
        assert listening == {port}, "both processes listen on the one port"
    finally:
        children = parent.children()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, "the other process stopped with the first"
