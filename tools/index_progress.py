"""How far the index build has got: a bar on the terminal, lines in the log, and /readyz.

Embedding a catalog is the one slow step of a first start (tens of seconds for the demo,
minutes for a province's catalog); residents and operators should see it move.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from tongban.tools.embeddings import Embedder

log = logging.getLogger(__name__)

BATCH = 64
QUIET_BELOW = 256  # a small update (an edited item) needs no bar


@dataclass
class Build:
    """The process's current or last embedding run."""

    total: int = 0
    done: int = 0
    started: float = 0.0
    running: bool = False

    def remaining_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first batch."""
        if not self.running or self.done == 0:
            return None
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        return (self.total - self.done) / rate


BUILD = Build()
_LOCK = threading.Lock()


def embed_passages(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """`embedder.embed_passages` in batches, reporting progress when there are many."""
    if len(texts) < QUIET_BELOW:
        return embedder.embed_passages(texts)
    with _LOCK:
        BUILD.total, BUILD.done, BUILD.started, BUILD.running = len(texts), 0, time.monotonic(), True
        log.info("index: embedding %d passages (first start or changed catalog)", len(texts))
        parts: list[np.ndarray] = []
        next_log = 0.1
        bar = tqdm(total=len(texts), desc="建立检索索引", unit="段", file=sys.stderr,
                   disable=not sys.stderr.isatty(), leave=False)
        try:
            for start in range(0, len(texts), BATCH):
                chunk = texts[start:start + BATCH]
                parts.append(embedder.embed_passages(chunk))
                BUILD.done += len(chunk)
                bar.update(len(chunk))
                if BUILD.done / BUILD.total >= next_log:
                    log.info("index: %d/%d passages embedded", BUILD.done, BUILD.total)
                    next_log += 0.1
        finally:
            bar.close()
            BUILD.running = False
        log.info("index: %d passages embedded in %.1f s", BUILD.total, time.monotonic() - BUILD.started)
        return np.vstack(parts)
