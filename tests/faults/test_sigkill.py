"""SIGKILL during booking conversations: nothing lost, nothing doubled, every conversation resumes.

A real `tongban serve` is killed at a random moment (seeded) of a random step of two residents'
bookings on the 公众号 webhook, then restarted (tests/helpers/harness.py). bench/faults.py runs
the same trials a hundred times.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.harness import run_trials

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages

TRIALS = 8


async def test_kills_during_bookings_lose_and_double_nothing(template_db: Path, service_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(template_db, data / "tongban.db")
    index_dir = service_index.settings.resolved_index_dir(service_index.store.settings)
    figures = await run_trials(data, trials=TRIALS, seed=20261124, index_dir=index_dir)
    print(figures.report())
    assert figures.trials == TRIALS and sum(figures.kills.values()) == TRIALS
    assert (figures.lost, figures.duplicated, figures.untold) == (0, 0, 0), figures.problems
    assert figures.unprocessed == 0, "every accepted message was answered after the restart"
    assert figures.unaudited == 0, "every appointment has its audit record"
    assert figures.resumed == figures.residents, figures.problems
