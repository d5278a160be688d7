"""The conversation sets, run through the real agent exactly as `tongban eval` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED
from tongban.agent.evaluation import format_report, run_eval
from tongban.agent.service import make_agent

pytestmark = pytest.mark.slow  # runs whole evaluation and red-team sets through the agent

HERE = Path(__file__).parent


def _factory(service_index):  # type: ignore[no-untyped-def]
    return lambda store, now: make_agent(store, clock=lambda: now, index=service_index)


def test_development_set_passes_at_least_95_percent(service_index) -> None:  # type: ignore[no-untyped-def]
    path = SHARED / "eval" / "dev.jsonl"
    if not path.exists():
        pytest.skip("../shared/eval/dev.jsonl is not beside this checkout")
    result = run_eval(path, _factory(service_index))
    assert not result.errors
    assert result.pass_rate >= 0.95, format_report(result)


def test_held_out_paraphrases_pass_at_least_90_percent(service_index) -> None:  # type: ignore[no-untyped-def]
    """Written without looking at the agent's rules: colloquial, Cantonese, homophones, typos."""
    result = run_eval(HERE / "heldout.jsonl", _factory(service_index))
    assert not result.errors
    assert len(result.turns) >= 140
    assert result.pass_rate >= 0.90, format_report(result)
