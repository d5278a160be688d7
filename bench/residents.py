"""Memory over many residents: RSS as 10,000 distinct residents each write once.

    python bench/residents.py [--residents 10000] [--concurrency 4]

A process that keeps something per resident it has seen (a lock, a cache entry, a session)
grows without end; tongban's per-resident state lives in the database and the checkpoints.
Prints RSS every tenth of the run and the growth from the first tenth to the end (goal: flat,
a few MB of allocator and SQLite page cache, not a line that keeps rising).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import logging
import os
import tempfile
import time
from pathlib import Path

from tongban.agent.messages import Inbound
from tongban.agent.service import Agent, shared_index
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
QUESTIONS = ["你好", "身份证丢了怎么办", "社保卡要带什么材料", "居住证怎么办理", "护照在哪里办", "残疾人证办理需要多久"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(agent: Agent, residents: int, concurrency: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(residents):
        queue.put_nowait(n)
    step = max(1, residents // 10)
    done = 0
    baseline: float | None = None
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done, baseline
        while not queue.empty():
            n = queue.get_nowait()
            await agent.respond(Inbound("wechat", f"o-resident-{n:06d}", QUESTIONS[n % len(QUESTIONS)], at=NOW))
            done += 1
            if done % step == 0:
                gc.collect()
                rss = rss_mb()
                baseline = baseline if baseline is not None else rss
                print(f"{done:>7} residents   RSS {rss:7.1f} MB   (+{rss - baseline:5.1f} since {step})   "
                      f"locks held {len(agent._locks)}/{len(agent._async_locks)}   "
                      f"{done / (time.perf_counter() - started):5.1f} turns/s", flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = Store.from_settings(MemorySettings(env="test", data_dir=directory, secret_key="bench-secret-0123456789"))
        store.initialise(today=NOW.date())
        agent = Agent(store, clock=lambda: NOW, index=shared_index(store),
                      checkpointer=sqlite_checkpointer(directory / "checkpoints.db"))
        for text in QUESTIONS:  # lazy loads happen before the first figure
            agent.respond_sync(Inbound("wechat", "warm-up", text, at=NOW))
        print(f"{args.residents} distinct residents, one message each, {args.concurrency} at a time; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; RSS after warm-up {rss_mb():.1f} MB")
        asyncio.run(run(agent, args.residents, args.concurrency))
        store.dispose()


if __name__ == "__main__":
    main()
