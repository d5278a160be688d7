"""Persistence, incremental updates and the FAISS device choice."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import faiss
import pytest
from sqlmodel import select

from tests.tools.conftest import CountingEmbedder
from tongban.memory.catalog import upsert_item
from tongban.memory.models import ServiceItem, ServiceItemBase, ServiceItemCreate
from tongban.memory.store import Store
from tongban.tools import services, vectors
from tongban.tools.retrieval import META, Document, HybridIndex
from tongban.tools.services import ServiceIndex, documents_from_db
from tongban.tools.settings import ToolsSettings
from tongban.tools.text import clean

pytestmark = pytest.mark.slow  # builds retrieval indexes with the embedding model


def test_second_build_loads_from_disk_without_embedding(
    demo_docs: list[Document], embedder: CountingEmbedder, tmp_path: Path
) -> None:
    first = HybridIndex.build(demo_docs, embedder, cache_dir=tmp_path)
    # at most every distinct passage once (the packaged demo vectors may seed the cache: fewer)
    assert embedder.passages <= len({clean(t) for d in demo_docs for _, t in d.passages})
    assert len([p for p in tmp_path.iterdir() if (p / META).exists()]) == 1
    embedder.passages = 0
    second = HybridIndex.build(demo_docs, embedder, cache_dir=tmp_path)
    assert embedder.passages == 0
    assert second.key == first.key
    for query in ("身份证丢了", "公基金提取", "开饭店要什么证"):
        assert [h.item_id for h in second.search(query)] == [h.item_id for h in first.search(query)]


def test_changed_catalog_reembeds_only_changed_items(
    demo_docs: list[Document], embedder: CountingEmbedder, tmp_path: Path
) -> None:
    HybridIndex.build(demo_docs, embedder, cache_dir=tmp_path)
    target = next(d for d in demo_docs if d.name == "结婚登记")
    edited = dataclasses.replace(target, passages=(*target.passages, ("keywords", "鹊桥金卡")))
    docs = [edited if d.item_id == target.item_id else d for d in demo_docs]
    embedder.passages = 0
    index = HybridIndex.build(docs, embedder, cache_dir=tmp_path)
    assert embedder.passages == 1  # the one new text; the item's other passages are known
    assert index.search("鹊桥金卡", k=1)[0].name == "结婚登记"
    # the superseded copy is pruned; the new one loads with no embedding at all
    assert len([p for p in tmp_path.iterdir() if (p / META).exists()]) == 1
    embedder.passages = 0
    HybridIndex.build(docs, embedder, cache_dir=tmp_path)
    assert embedder.passages == 0


def test_upsert_remove_and_reload(
    demo_index: HybridIndex, demo_docs: list[Document], embedder: CountingEmbedder, tmp_path: Path
) -> None:
    index = HybridIndex.build(demo_docs, demo_index.embedder)
    passport = next(d for d in demo_docs if d.name == "普通护照签发")
    assert index.remove(passport.item_id)
    assert all(h.item_id != passport.item_id for h in index.search("办护照", k=10))
    index.save(tmp_path / "saved")
    loaded = HybridIndex.load(tmp_path / "saved", demo_index.embedder)
    assert all(h.item_id != passport.item_id for h in loaded.search("办护照", k=10))
    loaded.upsert(passport)
    assert loaded.search("办护照", k=1)[0].item_id == passport.item_id
    # hall links changed, texts did not: nothing is re-embedded
    moved = dataclasses.replace(passport, halls=frozenset({12345}))
    loaded.embedder = embedder
    assert loaded.upsert(moved)
    assert embedder.passages == 0
    assert loaded.search("办护照", k=1, hall_id=12345)[0].item_id == passport.item_id


def test_service_index_follows_database_edits(
    store: Store, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    settings = ToolsSettings(index_dir=tmp_path / "index")
    service = ServiceIndex(store, settings, embedder, check_interval=0.0)
    assert service.search("鹊桥金卡", k=1)[0].name != "结婚登记"
    embedder.passages = 0
    with store.session() as session:
        item = session.exec(select(ServiceItem).where(ServiceItem.name == "结婚登记")).one()
        item.keywords = [*item.keywords, "鹊桥金卡"]
        session.add(item)
    assert service.search("鹊桥金卡", k=1)[0].name == "结婚登记"
    assert service.refresh(force=True) == 0  # nothing else changed
    with store.session() as session:
        docs = documents_from_db(session)
    edited = next(d for d in docs if d.name == "结婚登记")
    assert dict(edited.passages)["keywords"].endswith("鹊桥金卡")
    assert embedder.passages == 1  # the edited keywords, not the item nor the catalog
    embedder.passages = 0
    again = ServiceIndex(store, settings, embedder)  # a new process: loads the saved edit
    assert embedder.passages == 0
    assert again.search("鹊桥金卡", k=1)[0].name == "结婚登记"


def test_service_index_follows_catalog_imports(
    store: Store, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    """The import path (memory.catalog.upsert_item) as another process would run it."""
    service = ServiceIndex(store, ToolsSettings(index_dir=tmp_path), embedder, check_interval=0)
    with store.session() as session:
        row = session.exec(select(ServiceItem).where(ServiceItem.name == "离婚登记")).one()
        data = ServiceItemBase.model_validate(row).model_dump()
    data["keywords"] = [*data["keywords"], "分手证明书"]
    before = services._edits
    with store.session() as session:
        upsert_item(session, ServiceItemCreate.model_validate(data))
    services._edits = before  # as if another process wrote it: only the tables can tell
    assert service.search("分手证明书", k=1)[0].name == "离婚登记"


def test_device_selection_is_cpu_here() -> None:
    if faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is visible: this test checks the CPU-only machine")
    assert vectors.faiss_device() == "cpu"
    store = vectors.VectorStore(8, "flat")
    assert store.device == "cpu"
    assert vectors.index_kind(100, 20000) == "flat"
    assert vectors.index_kind(20000, 20000) == "hnsw"


def test_device_selection_moves_the_index_to_gpu_when_one_is_present(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moved: list[int] = []

    def fake_to_gpu(resources: object, device: int, index: faiss.Index) -> faiss.Index:
        moved.append(device)
        return index

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "StandardGpuResources", lambda: object(), raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", fake_to_gpu, raising=False)
    assert vectors.faiss_device() == "gpu"
    assert vectors.index_kind(10**6, 20000) == "flat"  # exact on GPU at any size
    store = vectors.VectorStore(8, "flat")
    assert store.device == "gpu" and moved == [0]
    assert vectors.VectorStore(8, "hnsw").device == "cpu" and moved == [0]


def test_passage_vectors_are_cached_by_text_across_catalogs(
    demo_docs: list[Document], embedder: CountingEmbedder, tmp_path: Path
) -> None:
    """Another catalog (an import, a regrouping, the official copy of the same items) embeds only
    the texts never seen: the vectors are kept by content beside the indexes."""
    HybridIndex.build(demo_docs, embedder, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.glob("passages-*.npz")]
    for path in tmp_path.iterdir():
        if (path / META).exists():
            shutil.rmtree(path)  # no index left to update: only the passage cache remains
    embedder.passages = 0
    official = [dataclasses.replace(d, passages=tuple(p for p in d.passages if p[0] != "keywords"))
                for d in demo_docs]
    index = HybridIndex.build([*official, dataclasses.replace(official[0], item_id=99999, code="NEW-1",
                                                              passages=(("name", "全新事项甲乙丙"),))],
                              embedder, cache_dir=tmp_path)
    assert embedder.passages == 1  # the one new text
    assert index.search("全新事项甲乙丙", k=1)[0].code == "NEW-1"


def test_an_index_saved_under_other_knowledge_is_retokenised_not_reembedded(
    demo_docs: list[Document], embedder: CountingEmbedder, tmp_path: Path
) -> None:
    """Stored tokens follow the knowledge files (dialect forms, stopwords); vectors do not. An
    index persisted before those files changed (an upgrade, an operator's edit) is cut again on
    load, and saved so, instead of being searched with the old tokens."""
    import json

    from tongban.tools.retrieval import language_key

    first = HybridIndex.build(demo_docs, embedder, cache_dir=tmp_path)
    meta_path = tmp_path / str(first.key) / META
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["language"] = "other knowledge"
    meta["tokens"] = {i: [[], []] for i in meta["tokens"]}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    embedder.passages = 0
    second = HybridIndex.build(demo_docs, embedder, cache_dir=tmp_path)
    assert embedder.passages == 0
    assert {i: tuple(map(list, t)) for i, t in second._tokens.items()} == {
        i: tuple(map(list, t)) for i, t in first._tokens.items()}
    saved = json.loads(meta_path.read_text(encoding="utf-8"))
    assert saved["language"] == language_key() and all(w for w, _ in saved["tokens"].values())
