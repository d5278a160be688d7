"""SIGTERM finishes the turns in flight: a rolling update loses no resident's answer."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

pytestmark = pytest.mark.slow  # starts the server as a subprocess and signals it

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited during start-up"
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("the server did not become ready")


async def test_sigterm_during_turns_finishes_them(template_db: Path, service_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "tongban.db").write_bytes(template_db.read_bytes())
    port = _free_port()
    env = {
        **os.environ,
        "TONGBAN_ENV": "development",
        "TONGBAN_DATA_DIR": str(data),
        # the session's index is already built and persisted there: the server loads it
        "TONGBAN_INDEX_DIR": str(service_index.settings.resolved_index_dir(service_index.store.settings)),
    }
    env.pop("TONGBAN_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tongban", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(base, process)
        questions = ["身份证到期了怎么换", "社保卡丢了怎么办", "结婚登记要带什么", "失业了能领钱吗"] * 5

        async def ask(http: aiohttp.ClientSession, n: int, text: str) -> tuple[int, str]:
            http.cookie_jar.clear()
            async with http.post(f"{base}/api/web/messages", json={"text": text},
                                 headers={"X-Requested-With": "fetch"}) as response:
                body = await response.json()
                return response.status, body.get("text", "")

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            pending = [asyncio.ensure_future(ask(http, n, q)) for n, q in enumerate(questions)]
            await asyncio.sleep(0.05)  # the requests are in flight
            process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*pending, return_exceptions=True)
        failures = [a for a in answers if isinstance(a, BaseException) or a[0] != 200 or not a[1]]
        assert not failures, failures
        assert await asyncio.to_thread(process.wait, 40) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
