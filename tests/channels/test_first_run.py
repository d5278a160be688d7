"""A first run as a new user makes it: `tongban serve` on an empty data dir, nothing configured.

The port answers before the index is built and says it is getting ready; questions are answered
once it is; and every file the server writes lands under TONGBAN_DATA_DIR — HOME is an empty,
read-only directory and the system temp dir stays empty.
"""

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

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _ask(base: str, text: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(
        f"{base}/api/web/messages", data=json.dumps({"text": text}).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_first_start_listens_at_once_and_writes_only_under_the_data_dir(tmp_path: Path) -> None:
    home, scratch, data = tmp_path / "home", tmp_path / "tmp", tmp_path / "data"
    for folder in (home, scratch):
        folder.mkdir()
    home.chmod(0o555)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    env.update(HOME=str(home), TMPDIR=str(scratch), TONGBAN_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "tongban", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while True:  # the port opens before the agent has loaded
            try:
                status, page = _get(f"{base}/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the port never opened"
                time.sleep(0.2)
        assert status == 200 and "通办" in page
        status, body = _get(f"{base}/readyz")
        starting = json.loads(body)
        assert status == 503 and starting["agent"] is False and starting["estimate_s"] >= 1, starting
        assert _get(f"{base}/healthz")[0] == 200
        early, said = _ask(base, "身份证到期了怎么换")
        assert early == 503 and "正在准备" in said["message"]

        deadline = time.monotonic() + 600
        while _get(f"{base}/readyz")[0] != 200:
            assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(1)
        status, reply = _ask(base, "身份证到期了怎么换")
        assert status == 200 and "居民身份证换领" in reply["text"]
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0].decode()
        home.chmod(0o755)
    assert "正在启动" in output and "首次启动" in output
    assert list(home.iterdir()) == [], "nothing is written to HOME"
    assert list(scratch.iterdir()) == [], "nothing is left in the system temp dir"
    written = {p.relative_to(data).parts[0] for p in data.rglob("*")}
    assert {"tongban.db", "index"} <= written
