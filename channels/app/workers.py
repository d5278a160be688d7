"""Several server processes on one port, so a machine's cores all answer residents.

One Python process turns at most one core into answers: at 50 WeChat messages a second on two
cores, one process on PostgreSQL answered two in three inside the passive window, two processes
all of them (bench/wechat_load.py --workers). On PostgreSQL the rules that keep replicas in
step — one reply per message, a resident's turns in order, one booking per slot — already hold
across processes, so the extra processes share the port (SO_REUSEPORT) and the kernel spreads
connections among them. The embedded SQLite database keeps its one writer inside one process:
more than one worker needs PostgreSQL.

The first process starts alone and builds or migrates the database; the others start once it
answers /readyz, and stop with it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
READY_WAIT_S = 600.0  # a first start builds the retrieval index
STOP_WAIT_S = 40.0


def refusal(workers: int, database_backend: str) -> str | None:
    """Why `workers` processes cannot run on this database, or None."""
    if workers < 1:
        return "--workers 至少为 1"
    if workers > 1 and database_backend != "postgresql":
        return ("多个服务进程需要共享的 PostgreSQL 数据库（设置 TONGBAN_DATABASE_URL）；"
                "内置的 SQLite 只允许一个进程写入。")
    return None


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def wait_ready(url: str, *, timeout_s: float = READY_WAIT_S, stop: threading.Event | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    return False


@contextmanager
def others(command: list[str], count: int, *, host: str, port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `count` more server processes once this one is ready; stop them when it stops."""
    started: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()

    def start() -> None:
        if not wait_ready(f"http://{_local(host)}:{port}/readyz", stop=stop):
            log.warning("workers: the first process never became ready; no others started")
            return
        for _ in range(count):
            if stop.is_set():
                return
            started.append(subprocess.Popen([sys.executable, "-m", "tongban", *command]))
        log.info("workers: %d more server processes on port %d", count, port)

    starter = threading.Thread(target=start, name="workers", daemon=True)
    if count:
        starter.start()
    try:
        yield started
    finally:
        stop.set()
        if count:
            starter.join(timeout=5)
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
