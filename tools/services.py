"""Service lookup and detail: the catalog in the database, searched through the hybrid index.

The index is built (or loaded from disk) once per process and database, and follows catalog
edits: before searching it compares a cheap fingerprint of the catalog tables and re-indexes
only the items that changed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from tongban.memory.models import Hall, HallItem, ServiceItem
from tongban.memory.store import Store
from tongban.tools.detail import service_detail  # noqa: F401  (re-exported: callers find it with the lookup)
from tongban.tools.embeddings import Embedder, get_embedder
from tongban.tools.retrieval import Document, Hit, HybridIndex
from tongban.tools.settings import ToolsSettings, get_tools_settings


def item_passages(item: ServiceItem) -> tuple[tuple[str, str], ...]:
    """The texts a resident's question may match, one passage per field (or per FAQ)."""
    passages: list[tuple[str, str]] = [("name", item.name)]
    if item.keywords:
        passages.append(("keywords", "、".join(item.keywords)))
    for name, text in (("description", item.description), ("applicants", item.applicants)):
        if text.strip():
            passages.append((name, text))
    materials = "、".join(str(m.get("name", "")) for m in item.materials if m.get("name"))
    if materials:
        passages.append(("materials", materials))
    for faq in item.faqs:
        passages.append(("faq", f"{faq.get('q', '')} {faq.get('a', '')}".strip()))
    return tuple(passages)


def documents_from_db(session: Session) -> list[Document]:
    halls: dict[int, set[int]] = {}
    cities: dict[int, set[str]] = {}
    for link, hall in session.exec(select(HallItem, Hall).where(HallItem.hall_id == Hall.id)):
        halls.setdefault(link.item_id, set()).add(hall.id or 0)
        cities.setdefault(link.item_id, set()).add(hall.city)
    return [
        Document(
            item_id=item.id or 0, code=item.code, name=item.name, department=item.department,
            legal_basis=tuple(item.legal_basis), halls=frozenset(halls.get(item.id or 0, ())),
            cities=frozenset(cities.get(item.id or 0, ())), passages=item_passages(item),
        )
        for item in session.exec(select(ServiceItem).order_by(ServiceItem.id))
    ]


_edits = 0  # catalog rows this process has written; catches edits that skip `updated_at`


@event.listens_for(OrmSession, "after_flush")
def _count_catalog_edits(session: OrmSession, _context: object) -> None:
    global _edits
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, ServiceItem | HallItem | Hall):
            _edits += 1


def local_catalog_edits() -> int:
    """Catalog rows this process has flushed so far: a free first check before `catalog_fingerprint`."""
    return _edits


def catalog_fingerprint(session: Session) -> tuple[Any, ...]:
    """Changes whenever an item is added, edited or removed, or a hall link changes: by
    this process (counted at flush) or by another (through `updated_at` and row counts)."""
    items = session.exec(
        select(func.count(ServiceItem.id), func.max(ServiceItem.updated_at), func.sum(ServiceItem.id))
    ).one()
    links = session.exec(
        select(func.count(HallItem.item_id), func.sum(HallItem.item_id * 7919 + HallItem.hall_id))
    ).one()
    return (_edits, *items, *links)


class ServiceIndex:
    """The process's index over one store's catalog."""

    def __init__(
        self,
        store: Store,
        settings: ToolsSettings | None = None,
        embedder: Embedder | None = None,
        *,
        check_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.settings = settings or get_tools_settings()
        self.embedder = embedder or get_embedder(self.settings)
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._checked = 0.0
        self._fingerprint: tuple[Any, ...] | None = None
        with store.read_session() as session:
            self._fingerprint = catalog_fingerprint(session)
            docs = documents_from_db(session)
        self.index = HybridIndex.build(
            docs,
            self.embedder,
            cache_dir=self.settings.resolved_index_dir(store.settings),
            ann_threshold=self.settings.ann_threshold,
        )
        self._checked = time.monotonic()

    def refresh(self, *, force: bool = False) -> int:
        """Re-index items edited since the last check; returns how many changed."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked < self.check_interval:
                return 0
            self._checked = now
            with self.store.read_session() as session:
                fingerprint = catalog_fingerprint(session)
                if fingerprint == self._fingerprint and not force:
                    return 0
                docs = documents_from_db(session)
            changed = self.index.sync(docs)
            self._fingerprint = fingerprint
            if changed:
                self.index.persist(self.settings.resolved_index_dir(self.store.settings))
            return changed

    def search(
        self, query: str, k: int = 5, *, hall_id: int | None = None, city: str | None = None
    ) -> list[Hit]:
        self.refresh()
        return self.index.search(query, k=k, hall_id=hall_id, city=city)


_INDEXES: dict[tuple[str, str, str], ServiceIndex] = {}
_INDEXES_LOCK = threading.Lock()


def get_index(store: Store, settings: ToolsSettings | None = None) -> ServiceIndex:
    """The process-wide index for this database (built or loaded on first use)."""
    settings = settings or get_tools_settings()
    key = (
        str(store.engine.url),
        str(settings.resolved_index_dir(store.settings)),
        settings.embedding_backend,
    )
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = ServiceIndex(store, settings)
        return _INDEXES[key]


def search_services(
    store: Store,
    query: str,
    k: int = 5,
    *,
    hall_id: int | None = None,
    city: str | None = None,
    settings: ToolsSettings | None = None,
) -> list[Hit]:
    return get_index(store, settings).search(query, k, hall_id=hall_id, city=city)


@dataclass
class Lookup:
    query: str
    hits: list[Hit]
    elapsed_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


def lookup(
    store: Store,
    query: str,
    k: int = 5,
    city: str | None = None,
    *,
    settings: ToolsSettings | None = None,
) -> Lookup:
    """For `tongban lookup "问题"`: the hits and how long the search itself took."""
    index = get_index(store, settings)
    started = time.perf_counter()
    hits = index.search(query, k, city=city)
    return Lookup(query=query, hits=hits, elapsed_ms=(time.perf_counter() - started) * 1000)
