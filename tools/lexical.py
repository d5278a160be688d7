"""BM25 over token lists (bm25s): the exact-word and the same-sound signals.

Rebuilding is cheap (a sparse matrix over cached token lists), so catalog edits simply
re-index; only tokenisation, the slow part, is cached per item by the caller.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np


def _import_bm25s() -> ModuleType:
    """bm25s imports numba whenever it is installed (voice extras bring it), loading LLVM:
    about 60 MB of resident memory for a JIT backend tongban never selects (it scores with
    the numpy backend). A None in sys.modules makes that optional import fail, as the
    library expects when numba is absent; numba stays importable for whoever needs it later."""
    if "numba" in sys.modules:
        import bm25s

        return bm25s
    sys.modules["numba"] = None  # type: ignore[assignment]
    try:
        import bm25s
    finally:
        del sys.modules["numba"]
    return bm25s


bm25s = _import_bm25s()


class LexicalIndex:
    """One BM25 document per catalog item, addressed by row."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._bm25: bm25s.BM25 | None = None
        self._rows = 0

    def build(self, corpus: list[list[str]]) -> None:
        self._rows = len(corpus)
        if not any(corpus):
            self._bm25 = None
            return
        bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        bm25.index(corpus, show_progress=False)
        self._bm25 = bm25

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every row; zeros when no token is in the vocabulary."""
        if self._bm25 is None:
            return np.zeros(self._rows, dtype=np.float32)
        ids = self._bm25.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(self._rows, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)
