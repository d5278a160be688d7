"""One thread pool for the background work of every graph run, instead of one pool per run.

LangGraph hands a run's checkpoint saves to a thread pool it opens for that run and closes at
its end, so every turn started (and joined) a fresh thread to hand its checkpoint to
`AfterCommit` — a few per cent of a turn's CPU, and a wait for the interpreter's lock
under load. The runs share this pool instead; each run still waits for its own tasks before
it returns (LangGraph's `BackgroundExecutor` does), so nothing is left running behind a turn.
LangGraph has no setting for it: the pool is swapped in where it looks it up, and if a
release moves that, runs simply open their own again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from langchain_core.runnables.config import ContextThreadPoolExecutor

log = logging.getLogger(__name__)

# tasks of one run wait only on that run's earlier tasks: far fewer at once than this
_POOL = ContextThreadPoolExecutor(max_workers=32, thread_name_prefix="graph-run")


@contextlib.contextmanager
def _shared(_config: Any) -> Iterator[ContextThreadPoolExecutor]:
    yield _POOL  # not shut down at the run's end: the next run reuses its threads


def install() -> None:
    try:
        from langgraph.pregel import _executor
    except ImportError:  # pragma: no cover - a LangGraph without it
        return
    if getattr(_executor, "get_executor_for_config", None) is not None:
        _executor.get_executor_for_config = _shared  # type: ignore[assignment]
    else:  # pragma: no cover
        log.debug("LangGraph's run pool not found: each run opens its own")
