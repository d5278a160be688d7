"""Fault injection: SIGKILL a real `tongban serve` during booking conversations, N times.

    python bench/faults.py [--trials 100] [--seed 11] [--residents 2] [--data-dir DIR]

Each trial kills the server (SIGKILL) at a random moment of a random step of two residents'
booking conversations on the 公众号 webhook, restarts it and lets them carry on
(tests/helpers/harness.py). Prints kills per phase, appointments lost (told booked, not
stored), duplicated, untold (stored, never told), conversations that resumed and finished,
messages that got no reply, inbound rows left unprocessed, and restart-to-ready p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.harness import Figures, run_trials, store_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--residents", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary directory")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tongban-faults-"))
    store = store_for(data_dir)
    store.initialise()
    store.dispose()
    started = time.monotonic()

    def progress(done: int, figures: Figures) -> None:
        if done % 10 == 0:
            print(f"  {done} trials, {time.monotonic() - started:.0f} s", flush=True)

    figures = asyncio.run(run_trials(data_dir, trials=args.trials, seed=args.seed, residents=args.residents,
                                     progress=progress))
    print(f"data dir {data_dir}, {time.monotonic() - started:.0f} s")
    print(figures.report())
    for problem in figures.problems:
        print("  !", problem)
    sys.exit(1 if figures.lost or figures.duplicated or figures.unprocessed else 0)


if __name__ == "__main__":
    main()
