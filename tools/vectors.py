"""Passage vectors in FAISS under stable int64 ids, on GPU when one is present.

One code path for every deployment: exact inner product (`IndexFlatIP`) while the catalog
is small — a province's catalog is a few thousand items, where exact search costs well under a
millisecond — and HNSW above `ann_threshold` vectors, where exact search stops being cheap on CPU. With
faiss-gpu and a visible GPU the exact index is moved there instead, at any size.
Removed vectors become tombstones filtered at search time (HNSW and GPU indexes cannot
delete in place) and are compacted away once they are a quarter of the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

Kind = Literal["flat", "hnsw"]
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# below this many vectors one query is searched on one thread: faiss's OpenMP team would
# otherwise keep spinning after the search and slow the embedding model's own threads
# (a separate OpenMP runtime) on the next query: ~8 ms became ~11 ms per lookup on 2 cores
SINGLE_THREAD_BELOW = 50_000


def faiss_device() -> Literal["gpu", "cpu"]:
    """Where FAISS indexes run in this process: "gpu" when faiss-gpu sees a device."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return "gpu" if get_num_gpus is not None and get_num_gpus() > 0 else "cpu"


def index_kind(size: int, ann_threshold: int) -> Kind:
    """Exact below the threshold; HNSW above it on CPU. A GPU searches millions of vectors
    exactly in about a millisecond (and faiss has no GPU HNSW), so there it stays exact."""
    return "flat" if size < ann_threshold or faiss_device() == "gpu" else "hnsw"


def _new_cpu_index(dim: int, kind: Kind) -> faiss.Index:
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    else:
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    index = faiss.IndexIDMap2(inner)
    index.referenced_objects = [inner]  # keep the inner index alive with its wrapper
    return index


def to_device(index: faiss.Index, kind: Kind) -> tuple[faiss.Index, Literal["gpu", "cpu"]]:
    """Move an exact index to GPU 0 when there is one; HNSW always runs on CPU."""
    if faiss_device() == "cpu" or kind != "flat":
        return index, "cpu"
    resources = faiss.StandardGpuResources()
    gpu_index = faiss.index_cpu_to_gpu(resources, 0, index)
    gpu_index.referenced_objects = [resources]
    return gpu_index, "gpu"


def to_cpu(index: faiss.Index, device: str) -> faiss.Index:
    return faiss.index_gpu_to_cpu(index) if device == "gpu" else index


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """Run FAISS calls of this thread on `count` OpenMP threads (0: leave as is)."""
    if count <= 0:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class VectorStore:
    """FAISS plus tombstones; ids are the caller's (one per passage)."""

    def __init__(self, dim: int, kind: Kind) -> None:
        self.dim = dim
        self.kind: Kind = kind
        self.index, self.device = to_device(_new_cpu_index(dim, kind), kind)
        self.dead: set[int] = set()

    @property
    def live(self) -> int:
        return int(self.index.ntotal) - len(self.dead)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: list[int]) -> None:
        self.dead.update(ids)
        if len(self.dead) > 0.25 * max(int(self.index.ntotal), 1):
            self.compact()

    def compact(self) -> None:
        """Rebuild from the live vectors, dropping tombstones."""
        cpu = to_cpu(self.index, self.device)
        all_ids = faiss.vector_to_array(faiss.downcast_index(cpu).id_map).astype(np.int64)
        vectors = faiss.downcast_index(cpu).index.reconstruct_n(0, int(cpu.ntotal))
        keep = ~np.isin(all_ids, np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
        self.index, self.device = to_device(_new_cpu_index(self.dim, self.kind), self.kind)
        self.dead = set()
        self.add(all_ids[keep], vectors[keep])

    def search(self, query: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """Top `fetch` live (scores, ids) for one L2-normalised query vector."""
        total = int(self.index.ntotal)
        if total == 0 or fetch <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        want = min(total, fetch + len(self.dead))
        with _threads(1 if total < SINGLE_THREAD_BELOW else 0):
            scores, ids = self.index.search(np.ascontiguousarray(query.reshape(1, -1)), want)
        scores, ids = scores[0], ids[0]
        keep = ids >= 0
        if self.dead:
            keep &= ~np.isin(ids, np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
        return scores[keep][:fetch], ids[keep][:fetch]

    def save(self, path: Path) -> None:
        faiss.write_index(to_cpu(self.index, self.device), str(path))

    @classmethod
    def load(cls, path: Path, dim: int, kind: Kind, dead: set[int]) -> VectorStore:
        store = cls.__new__(cls)
        store.dim, store.kind, store.dead = dim, kind, set(dead)
        cpu = faiss.read_index(str(path))
        if kind == "hnsw":
            faiss.downcast_index(faiss.downcast_index(cpu).index).hnsw.efSearch = HNSW_EF_SEARCH
        store.index, store.device = to_device(cpu, kind)
        return store
