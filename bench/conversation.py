"""Offline-brain speed: per-turn latency p50/p99, eval throughput, checkpoint size after 50 turns.

    python bench/conversation.py [--eval ../shared/eval/dev.jsonl] [--turns 50] [--profile bench/profiles/turn.txt]

Goal (#23): an offline turn costs p50 ≤ 10 ms and p99 ≤ 40 ms of CPU. CPU time is what the
goal names because the machine is shared: wall time is printed beside it with the load average
of the moment. `--profile` writes cProfile's cumulative and own-time tables of the measured turns.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import logging
import os
import pstats
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from tongban.agent.evaluation import factory_for, run_eval
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent, shared_index
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.residents import Identity
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
CONVERSATION = [
    "你好", "身份证到期了怎么换", "要带什么材料", "在哪里可以办", "多少钱", "要多久",
    "那残疾人证呢", "我想预约明天上午去南宁市民中心换身份证", "确认", "我的预约",
    "取消预约", "确认", "社保卡丢了怎么办", "帮我约后天下午在柳州市政务服务中心办社保卡", "算了，不约了",
    "查一下办件进度", "GX20261012900001", "13800000000", "明天股票会涨吗", "异地就医被案怎么弄",
    "公基金提取租房", "点样办结婚登记", "家里老人80岁了有什么补贴", "开奶茶店要办哪些证", "谢谢",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/dev.jsonl")
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile tables of the turns here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = Store.from_settings(MemorySettings(env="test", data_dir=directory, secret_key="bench-secret-0123456789"))
        store.initialise(today=NOW.date())
        index = shared_index(store)
        checkpoints = directory / "checkpoints.db"
        agent = Agent(store, clock=lambda: NOW, index=index, checkpointer=sqlite_checkpointer(checkpoints))
        identity = Identity(name="测试用户", phone="13800000000", id_number="450102199001011231")
        agent.respond_sync(Inbound("web", "warm-up", "你好", at=NOW))
        for text in CONVERSATION:  # every path once, so lazy loads are not counted as turns
            agent.respond_sync(Inbound("web", "warm-up", text, at=NOW, identity=identity))
        latencies: list[float] = []
        cpu: list[float] = []
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
        load = os.getloadavg()[0]
        for n in range(args.turns):
            text = CONVERSATION[n % len(CONVERSATION)]
            started, started_cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            agent.respond_sync(Inbound("web", "bench-user", text, at=NOW, identity=identity))
            if profiler:
                profiler.disable()
            cpu.append((time.process_time() - started_cpu) * 1000)
            latencies.append((time.perf_counter() - started) * 1000)
        print(f"turns            {len(latencies)} (one resident, mixed lookups, bookings, progress); "
              f"{os.cpu_count()} CPUs, load average {load:.1f} → {os.getloadavg()[0]:.1f}")
        print(f"CPU per turn     p50 {statistics.median(cpu):7.1f} ms   p99 {percentile(cpu, 0.99):7.1f} ms   "
              f"max {max(cpu):.1f} ms   (goal p50 ≤ 10, p99 ≤ 40)")
        print(f"wall per turn    p50 {statistics.median(latencies):7.1f} ms   p99 {percentile(latencies, 0.99):7.1f} ms   "
              f"max {max(latencies):.1f} ms")
        if profiler:
            _write_profile(profiler, args.profile, args.turns)
        with sqlite3.connect(checkpoints) as db:
            rows, size = db.execute(
                "SELECT count(*), coalesce(sum(length(checkpoint)) + sum(length(metadata)), 0) FROM checkpoints "
                "WHERE thread_id = (SELECT thread_id FROM checkpoints ORDER BY rowid DESC LIMIT 1)"
            ).fetchone()
            latest = db.execute(
                "SELECT length(checkpoint) FROM checkpoints ORDER BY rowid DESC LIMIT 1"
            ).fetchone()[0]
            writes = db.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()[0]
        print(f"checkpoint       latest {latest / 1024:.1f} KiB after {args.turns} turns "
              f"(history trimmed); thread total {size / 1024:.0f} KiB in {rows} checkpoints, writes {writes / 1024:.0f} KiB")
        store.dispose()
    if args.eval.exists():
        started = time.perf_counter()
        result = run_eval(args.eval, factory_for(False))
        elapsed = time.perf_counter() - started
        print(f"eval             {len(result.turns)} turns in {elapsed:.1f} s = {len(result.turns) / elapsed:.1f} turns/s "
              f"(each case on a fresh database), pass {result.passed}/{len(result.turns)}")


def _write_profile(profiler: cProfile.Profile, path: Path, turns: int) -> None:
    out = io.StringIO()
    out.write(f"cProfile of {turns} offline turns (bench/conversation.py --profile)\n")
    for order in ("cumulative", "tottime"):
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(45)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    print(f"profile          {path}")


if __name__ == "__main__":
    main()
