"""Build the demo catalog's retrieval index and the compact dictionaries into the package,
so a first start loads them.

    python -m tongban.tools.prebuilt

Run when packaging, and whenever the demo catalog, the default embedder, the index layout or
jieba's or pypinyin's dictionaries change: tests/tools/test_prebuilt_index.py and
tests/tools/test_lexicons.py fail until what is shipped matches. Both are keyed by content
(catalog, embedder, index version; the libraries' files), so a stale one is never loaded —
the server then embeds and builds as before, only slower.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store
from tongban.tools import lexicons
from tongban.tools.embeddings import get_embedder
from tongban.tools.retrieval import META, PREBUILT_DIR, VECTORS, HybridIndex, catalog_key
from tongban.tools.services import documents_from_db
from tongban.tools.settings import ToolsSettings

DEMO_DAY = dt.date(2026, 1, 5)  # the catalog does not depend on the day; slots do, and are not indexed


def build(target: Path = PREBUILT_DIR) -> str:
    """Index the demo catalog with the default embedder into `target`/<key>, its passage vectors
    beside it; returns the key."""
    embedder = get_embedder(ToolsSettings())
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_settings(MemorySettings(env="test", data_dir=Path(tmp), secret_key="prebuilt-0123456789abcdef"))
        try:
            store.initialise(today=DEMO_DAY)
            with store.read_session() as session:
                docs = documents_from_db(session)
        finally:
            store.dispose()
        key = catalog_key(docs, embedder)
        HybridIndex.build(docs, embedder, cache_dir=Path(tmp) / "index")
        built = Path(tmp) / "index" / key
        if target.exists():
            shutil.rmtree(target)
        (target / key).mkdir(parents=True)
        for name in (META, VECTORS):
            shutil.copyfile(built / name, target / key / name)
        for passages in (Path(tmp) / "index").glob("passages-*.npz"):  # they outlive the index key
            shutil.copyfile(passages, target / passages.name)
    return key


if __name__ == "__main__":
    print(f"prebuilt index {build()} in {PREBUILT_DIR}")
    print(f"prebuilt dictionaries {', '.join(lexicons.package())} in {lexicons.PACKAGED}")
