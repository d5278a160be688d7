"""Passage vectors remembered by content, so text already embedded is never embedded again.

The hybrid index keeps vectors per entry row; an operator who removes a file and imports it
again, or an evaluation run on a fresh database, gets new rows for the same texts. This
cache sits between the index and the embedder and answers those texts from disk.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from tongban.tools.embeddings import Embedder

LIMIT = 200_000  # vectors kept (about 300 MB at 384 dimensions); oldest dropped past it


class PassageCache:
    """An `Embedder` whose passages come from `path` when their text was embedded before."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.path = inner, Path(path)
        self.name, self.dim = inner.name, inner.dim
        self.embedded = 0  # passages this process sent to the model (the import benchmark reads it)
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}
        self._load()

    def _file(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
        return self.path / f"passages-{safe}-{self.dim}.npz"

    def _load(self) -> None:
        try:
            with np.load(self._file()) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, KeyError, ValueError):
            return  # no cache yet, or a damaged one: embed again
        if vectors.ndim == 2 and vectors.shape[1] == self.dim:
            self._vectors = {str(k): v for k, v in zip(keys.tolist(), vectors, strict=True)}

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            fresh = self.inner.embed_passages([text_of[k] for k in missing])
            with self._lock:
                self.embedded += len(missing)
                self._vectors.update(zip(missing, fresh, strict=True))
                while len(self._vectors) > LIMIT:
                    self._vectors.pop(next(iter(self._vectors)))
            self.save()
        with self._lock:
            rows = [self._vectors[k] for k in keys]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def save(self) -> None:
        """Atomically (a temporary file renamed into place)."""
        with self._lock:
            keys = np.asarray(list(self._vectors), dtype="U32")
            vectors = np.asarray(list(self._vectors.values()), dtype=np.float32).reshape(len(keys), self.dim)
        self.path.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.path)
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, keys=keys, vectors=vectors)
            os.replace(tmp, self._file())
        except OSError:
            Path(tmp).unlink(missing_ok=True)
