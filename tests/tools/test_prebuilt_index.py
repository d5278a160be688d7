"""The demo catalog's index ships in the package and matches the demo catalog and the default
embedder, so a first start loads it instead of embedding every passage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tongban.memory.store import Store
from tongban.tools.embeddings import Embedder, get_embedder
from tongban.tools.retrieval import META, PREBUILT_DIR, HybridIndex, catalog_key
from tongban.tools.services import documents_from_db
from tongban.tools.settings import ToolsSettings


class NoPassages:
    """The default model for queries; refuses passages, which a loaded index never needs."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise AssertionError(f"embedded {len(texts)} passages: the shipped index was not used")


def test_the_shipped_index_is_the_demo_catalogs_and_loads_without_embedding(store: Store, tmp_path: Path) -> None:
    embedder = get_embedder(ToolsSettings())
    with store.read_session() as session:
        docs = documents_from_db(session)
    key = catalog_key(docs, embedder)
    assert (PREBUILT_DIR / key / META).exists(), (
        "the demo catalog, the embedder or the index layout changed: run python -m tongban.tools.prebuilt")
    index = HybridIndex.build(docs, NoPassages(embedder), cache_dir=tmp_path / "index")
    assert index.key == key and (tmp_path / "index" / key / META).exists(), "seeded into the data dir"
    [top, *_] = index.search("身份证丢了怎么补办", k=3)
    assert "身份证" in top.name


def test_another_catalog_gets_its_own_index_from_the_shipped_passage_vectors(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        docs = documents_from_db(session)[:3]  # an operator's catalog: not the demo's, its texts known
    embedder = get_embedder(ToolsSettings())
    HybridIndex.build(docs, NoPassages(embedder), cache_dir=tmp_path / "index")
    assert [p.name for p in (tmp_path / "index").iterdir() if (p / META).exists()] == [catalog_key(docs, embedder)]
