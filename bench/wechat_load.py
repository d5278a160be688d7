"""WeChat webhook under load: acknowledgement latency and the share of passive replies.

    python bench/wechat_load.py [--rates 50,100,200] [--seconds 10] [--budget 4]
                                [--postgres postgresql://postgres@127.0.0.1:5432/test]

Starts the real server (`create_app`, offline brain, the embedded SQLite default or
a fresh database on `--postgres`) in a subprocess on loopback, and a stand-in for Tencent's API in this
process to receive the 客服消息 of replies that missed the passive window. Then, per rate,
sends signed plaintext-mode text messages with unique MsgIds from many openids, open loop
(each request leaves on schedule whether or not earlier ones were answered), and prints ack
latency p50/p99, how the replies went out, and, once the pushed ones have arrived, whether
every acknowledged message got exactly one reply (passive or pushed, counted per resident).

The goals (#23): ≥ 99 % passive at 50 msg/s on 2 cores, 0 lost and 0 duplicated; p99 ack
< 500 ms at 200 requests per second. A reply that cannot make the passive budget is
acknowledged with `success` at once (or when the budget runs out) and pushed. The machine is
shared: the load average is printed with each level, and the CPU per message is the server
process's own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
APP_ID = "wxbench0000000000"
SECRET = "bench-secret"
QUESTIONS = ["身份证丢了怎么办", "社保卡要带什么材料", "居住证怎么办理", "护照在哪里办", "你好", "残疾人证办理需要多久"]
OPENIDS = 1000
MAX_IN_FLIGHT = 2000  # bounds the client: beyond this a request counts as refused, not queued


# ---------------------------------------------------------------------------- the server, in a subprocess


def serve(port: int, profile: str | None = None, shared: bool = False) -> None:
    from tongban.channels.app.server import create_app

    if not profile:  # `shared`: one of several server processes on one port (SO_REUSEPORT)
        web.run_app(create_app(), host="127.0.0.1", port=port, print=None, access_log=None, reuse_port=shared)
        return
    import cProfile
    import io
    import pstats
    import threading

    profilers = [cProfile.Profile(time.thread_time)]  # CPU, not waits

    def in_each_thread(*_args: object) -> None:  # turns run in worker threads: profile those too
        sys.setprofile(None)
        profilers.append(thread := cProfile.Profile(time.thread_time))
        thread.enable()

    from collections import Counter as _Counter

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: _Counter[str] = _Counter()  # SQL round trips by statement, through SQLAlchemy

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        statements[" ".join(statement.split())[:110]] += 1

    threading.setprofile(in_each_thread)
    profilers[0].enable()  # the whole server: start-up is small beside a load run's turns
    try:
        web.run_app(create_app(), host="127.0.0.1", port=port, print=None, access_log=None)
    finally:
        profilers[0].disable()
        out = io.StringIO()
        stats = pstats.Stats(*profilers, stream=out)
        stats.dump_stats(f"{profile}.prof")  # for print_callers and friends
        for order in ("cumulative", "tottime"):
            stats.sort_stats(order).print_stats(60)
        out.write("\nSQL statements through SQLAlchemy, by count\n")
        for text, n in statements.most_common(40):
            out.write(f"{n:>7}  {text}\n")
        Path(profile).write_text(out.getvalue(), encoding="utf-8")


# ---------------------------------------------------------------------------- Tencent's side


class Tencent:
    def __init__(self) -> None:
        self.pushed = 0
        self.to: Counter[str] = Counter()  # 客服消息 per openid

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        return app

    async def token(self, _request: web.Request) -> web.Response:
        return web.json_response({"access_token": "BENCH_TOKEN", "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        self.pushed += 1
        self.to[json.loads(await request.read()).get("touser", "")] += 1
        return web.json_response({"errcode": 0, "errmsg": "ok"})


# ---------------------------------------------------------------------------- the load


def signed_query() -> dict[str, str]:
    stamp, nonce = str(int(time.time())), os.urandom(4).hex()
    signature = hashlib.sha1("".join(sorted((TOKEN, stamp, nonce))).encode()).hexdigest()
    return {"signature": signature, "timestamp": stamp, "nonce": nonce}


def message(openid: str, text: str, msg_id: int) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def _cpu_s(server: list[psutil.Process] | None) -> float:
    """The server processes' own CPU seconds, all of them together."""
    total = 0.0
    for process in server or []:
        times = process.cpu_times()
        total += float(times.user + times.system)
    return total


async def level(
    session: aiohttp.ClientSession, url: str, rate: int, seconds: float, ids: itertools.count,
    server: list[psutil.Process] | None = None, sent: Counter[str] | None = None, passive: Counter[str] | None = None,
) -> dict[str, float]:
    cpu_before = _cpu_s(server)
    latencies: list[float] = []
    outcomes = {"passive": 0, "success": 0, "error": 0, "refused": 0}
    in_flight = 0

    async def one(n: int) -> None:
        nonlocal in_flight
        msg_id = next(ids)
        openid = f"o-bench-{msg_id % OPENIDS:04d}"
        body = message(openid, QUESTIONS[msg_id % len(QUESTIONS)], msg_id)
        started = time.perf_counter()
        try:
            async with session.post(url, params=signed_query(), data=body) as response:
                text = await response.text()
                latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    outcomes["error"] += 1
                else:
                    outcomes["success" if text == "success" else "passive"] += 1
                    if sent is not None and passive is not None:
                        sent[openid] += 1
                        passive[openid] += text != "success"
        except (TimeoutError, aiohttp.ClientError):
            outcomes["error"] += 1
        finally:
            in_flight -= 1

    tasks = []
    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if in_flight >= MAX_IN_FLIGHT:
            outcomes["refused"] += 1
            continue
        in_flight += 1
        tasks.append(asyncio.create_task(one(n)))
    offered = time.perf_counter() - start
    await asyncio.wait(tasks, timeout=15)  # bounded: stragglers count as errors
    cpu_ms = (_cpu_s(server) - cpu_before) * 1000 / max(1, total)  # includes turns still finishing: a floor
    latencies.sort()
    answered = outcomes["passive"] + outcomes["success"]
    return {
        "rate": rate, "sent": total, "offered": total / offered,
        "p50": _percentile(latencies, 0.50) * 1000, "p99": _percentile(latencies, 0.99) * 1000,
        "max": (latencies[-1] if latencies else 0) * 1000,
        "passive": outcomes["passive"] / answered if answered else 0.0, "passive_n": outcomes["passive"],
        "errors": outcomes["error"] + outcomes["refused"] + (len(tasks) - answered - outcomes["error"]),
        "cpu_ms": cpu_ms, "load": os.getloadavg()[0],
    }


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _create_database(base: str) -> str:
    """A fresh PostgreSQL database for this run (the server migrates and seeds it)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tongban.memory.db import make_engine

    name = f"tongban_bench_{os.urandom(5).hex()}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _drop_database(base: str, url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tongban.memory.db import make_engine

    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(args: argparse.Namespace) -> None:
    tencent = Tencent()
    runner = web.AppRunner(tencent.app(), access_log=None)
    await runner.setup()
    api_port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", api_port).start()

    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="tongban-bench-")
    env = os.environ | {
        "TONGBAN_ENV": "development", "TONGBAN_DATA_DIR": data_dir,
        "TONGBAN_WECHAT_TOKEN": TOKEN, "TONGBAN_WECHAT_APP_ID": APP_ID, "TONGBAN_WECHAT_APP_SECRET": SECRET,
        "TONGBAN_WECHAT_API_BASE": f"http://127.0.0.1:{api_port}", "TONGBAN_PASSIVE_REPLY_BUDGET_S": str(args.budget),
        "PYTHONPATH": str(ROOT),
    }
    if args.postgres:
        env["TONGBAN_DATABASE_URL"] = database = _create_database(args.postgres)
    log_path = Path(data_dir) / "server.log"
    shared = ["--shared"] if args.workers > 1 else []
    command = [sys.executable, __file__, "--serve", str(port), *shared,
               *(["--profile", args.profile] if args.profile else [])]
    log = log_path.open("wb")
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    servers = [server]
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT),
        ) as session:
            await _ready(session, f"http://127.0.0.1:{port}/readyz", server)
            for _ in range(args.workers - 1):  # the first built the database: the others start on it
                servers.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log))
            if args.workers > 1:
                await _ready(session, f"http://127.0.0.1:{port}/readyz", server, times=30)
            process = [psutil.Process(s.pid) for s in servers]
            url = f"http://127.0.0.1:{port}/wechat"
            ids = itertools.count(int(time.time()) * 1000)
            sent: Counter[str] = Counter()  # accepted messages per openid, and of those answered passively
            passive: Counter[str] = Counter()
            warm = await level(session, url, 20, 2, ids, process, sent, passive)  # warm up: caches, connections, first turns
            due = 40 - int(warm["passive_n"])
            print(f"WeChat webhook, offline brain, {'PostgreSQL' if args.postgres else 'SQLite (embedded default)'}, "
                  f"{args.workers} server process{'es' if args.workers > 1 else ''}, "
                  f"passive budget {args.budget:g} s, {os.cpu_count()} CPUs; goals: ≥ 99 % passive at 50 msg/s, "
                  f"p99 ack < 500 ms at 200 req/s")
            print(f"{'req/s':>6} {'sent':>6} {'offered/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
                  f"{'passive':>8} {'errors':>7} {'CPU ms/msg':>10} {'load avg':>8}")
            for rate in args.rates:
                r = await level(session, url, rate, args.seconds, ids, process, sent, passive)
                print(f"{rate:>6} {r['sent']:>6.0f} {r['offered']:>9.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                      f"{r['max']:>8.1f} {r['passive']:>8.1%} {r['errors']:>7.0f} {r['cpu_ms']:>10.1f} "
                      f"{r['load']:>8.1f}", flush=True)
                due += int(r["sent"] - r["passive_n"])
                await asyncio.sleep(args.pause)
            deadline = time.monotonic() + args.drain  # the backlog of turns, answered as 客服消息
            while tencent.pushed < due and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            print(f"replies that missed the passive window (warm-up included): {due}; pushed as "
                  f"客服消息 by {args.drain:g} s after the last level: {tencent.pushed}")
            answered = {o: passive[o] + tencent.to[o] for o in sent.keys() | tencent.to.keys()}
            lost = sum(max(0, sent[o] - answered[o]) for o in answered)
            duplicated = sum(max(0, answered[o] - sent[o]) for o in answered)
            print(f"exactly once, per resident: {sum(sent.values())} messages acknowledged, {lost} lost "
                  f"(no reply, passive or pushed, by the end), {duplicated} duplicated")
            print(f"server log: {log_path}")
    finally:
        for each in servers:
            each.terminate()
        for each in servers:
            try:
                each.wait(timeout=40)
            except subprocess.TimeoutExpired:
                each.kill()
        await runner.cleanup()
        if args.postgres:
            _drop_database(args.postgres, database)


async def _ready(session: aiohttp.ClientSession, url: str, server: subprocess.Popen[bytes], times: int = 1) -> None:
    """Ready `times` in a row: with several processes on one port, each new connection may reach
    any of them, so thirty in a row means all have started."""
    deadline = time.monotonic() + 600  # first start builds the database and the retrieval index
    streak = 0
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            async with aiohttp.ClientSession() as fresh, fresh.get(url) as response:  # a new connection each time
                streak = streak + 1 if response.status == 200 else 0
                if streak >= times:
                    return
        except aiohttp.ClientError:
            streak = 0
        await asyncio.sleep(0.5 if streak == 0 else 0.05)
    raise SystemExit("the server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--budget", type=float, default=4.0, help="passive_reply_budget_s")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="run on a fresh database on this PostgreSQL server instead of SQLite")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between levels")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the pushed replies")
    parser.add_argument("--profile", default=None, metavar="PATH",
                        help="write cProfile tables of the server process here (slows it: no passive figures)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port (SO_REUSEPORT); more than one needs --postgres")
    parser.add_argument("--shared", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
    if args.workers > 1 and not args.postgres and args.serve is None:
        parser.error("more than one server process needs a shared database: add --postgres URL")
    if args.serve is not None:
        serve(args.serve, args.profile, args.shared)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
