"""Start-up as a new user meets it: `tongban serve` on an empty data dir, then again on the same one.

    python bench/startup.py [--runs 2]

Prints, per start: seconds until the port answers, until /readyz is 200, until the first
question is answered (goal ≤ 5 s), the server's CPU seconds by then, and its RSS once idle
(goal ≤ 250 MB). The first start prepares the data dir (database, demo catalog, index seeded
from the package); later starts load it. Other work on the machine stretches the seconds but
hardly the CPU: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return None


def _ask(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/web/messages", data=json.dumps({"text": "身份证到期了怎么换"}).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["item"] or ""


def start_once(data: Path) -> dict[str, float | str]:
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    env["TONGBAN_DATA_DIR"] = str(data)
    began = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "tongban", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while _status(f"{base}/healthz") is None:
            if server.poll() is not None:
                raise SystemExit("the server exited before opening its port")
            time.sleep(0.05)
        listening = time.monotonic() - began
        while _status(f"{base}/readyz") != 200:
            time.sleep(0.2)
        ready = time.monotonic() - began
        item = _ask(base)
        answered = time.monotonic() - began
        process = psutil.Process(server.pid)
        cpu = sum(process.cpu_times()[:2])
        time.sleep(2)
        rss = process.memory_info().rss / 2**20
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return {"port": listening, "ready": ready, "answered": answered, "cpu": cpu, "rss_mb": rss, "item": item}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="starts on the same data dir (the first is fresh)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"load average {_load()} on {os.cpu_count()} cores")
        print(f"{'start':<8}{'port s':>8}{'ready s':>9}{'answer s':>10}{'cpu s':>7}{'idle RSS MB':>13}  first answer")
        for run in range(args.runs):
            got = start_once(Path(folder) / "data")
            name = "first" if run == 0 else f"again{run}"
            print(f"{name:<8}{got['port']:>8.2f}{got['ready']:>9.2f}{got['answered']:>10.2f}{got['cpu']:>7.2f}"
                  f"{got['rss_mb']:>13.0f}  {got['item']}")
        print(f"load average {_load()}")


if __name__ == "__main__":
    main()
