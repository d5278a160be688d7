"""The hybrid service index: dense vectors, BM25 words and BM25 pinyin, fused by rank.

Each signal covers another's blind spot: the embedding model understands paraphrase
(失业了能领钱吗 → 失业保险金申领), BM25 honours exact terms the model blurs (换领 vs 补领),
and the pinyin channel matches what speech input misrecognises (公基金 → 公积金). Scores of
the three are not comparable, so they are fused by weighted reciprocal rank. No LangChain
types here: the agent wraps this, not the other way round.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tongban.tools.embeddings import Embedder, PassageCache, near_line
from tongban.tools.index_progress import embed_passages
from tongban.tools.language import Expansion, Knowledge, directories, knowledge
from tongban.tools.lexical import LexicalIndex
from tongban.tools.text import clean, normalise, pinyin_grams, shared_tokenizer
from tongban.tools.vectors import Kind, VectorStore, index_kind

# bump when passages, tokenisation or the stored layout change: old indexes are rebuilt
INDEX_VERSION = 2
META, VECTORS = "meta.json", "vectors.faiss"
# indexes built when the package is made (`python -m tongban.tools.prebuilt`): the demo
# catalog's, so a first start loads its index instead of embedding every passage
PREBUILT_DIR = Path(__file__).resolve().with_name("prebuilt_index")
# how often a field's tokens count in an item's BM25 document (the title says most)
FIELD_WEIGHTS: dict[str, int] = {"name": 3, "keywords": 2}


@dataclass(frozen=True)
class Document:
    """One catalog item as the index sees it."""

    item_id: int
    code: str
    name: str
    department: str = ""
    legal_basis: tuple[str, ...] = ()
    halls: frozenset[int] = frozenset()
    cities: frozenset[str] = frozenset()
    # (field, text): name, keywords, description, applicants, materials, faq
    passages: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id, "code": self.code, "name": self.name,
            "department": self.department, "legal_basis": list(self.legal_basis),
            "halls": sorted(self.halls), "cities": sorted(self.cities),
            "passages": [list(p) for p in self.passages],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Document:
        return cls(
            item_id=int(data["item_id"]), code=data["code"], name=data["name"],
            department=data["department"], legal_basis=tuple(data["legal_basis"]),
            halls=frozenset(data["halls"]), cities=frozenset(data["cities"]),
            passages=tuple((f, t) for f, t in data["passages"]),
        )

    def fingerprint(self) -> str:
        raw = json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()

    def vocabulary(self) -> list[str]:
        """Catalog terms jieba should keep whole: the name and each keyword."""
        words = [self.name]
        for name, text in self.passages:
            if name == "keywords":
                words.extend(text.split("、"))
        return words


@dataclass
class Hit:
    item_id: int
    code: str
    name: str
    department: str
    legal_basis: tuple[str, ...]
    passage: str
    # fused score over its maximum (1.0: every signal ranked this item first)
    score: float
    # per-signal raw scores and ranks, plus `margin` to the next hit and `agree`
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Fusion:
    """Weighted reciprocal-rank fusion (weights and k measured in bench/retrieval.py)."""

    dense: float = 1.0
    words: float = 0.5
    pinyin: float = 0.5
    k: int = 30
    depth: int = 50  # candidates taken from each signal
    # The cascade: when the words and the sounds both put one item first, each by this factor
    # over their second and with a BM25 score of at least `lexical_floor`, the question names
    # its item and the embedding (most of a query's cost) is not computed. Measured on 173
    # dev, benchmark and held-out questions: 100 skip it and not one first hit changes.
    lexical_margin: float = 1.5
    lexical_floor: float = 2.0
    cascade: bool = True
    # Official names are an object plus an action (居民身份证 + 换领). A candidate whose name
    # holds an object the question means (said, or mapped by the thesaurus) gains `object`;
    # one that also holds an action the question means gains `action` more.
    object: float = 0.012
    action: float = 0.008
    # a sibling whose name holds a follow-up action (补领, 变更, 注销, 转入…) the question does not
    # mean loses `unsaid`: 要办个执照 is the licence's first issue, not its 变更登记
    unsaid: float = 0.006
    cover: float = 0.6  # the share of a name's object the question must say to earn the bonus

    @property
    def best(self) -> float:
        return (self.dense + self.words + self.pinyin) / (self.k + 1)

    def decisive(self, words: dict[int, float], sounds: dict[int, float]) -> bool:
        """Do the two lexical signals, best first, agree clearly enough to skip the vectors?"""
        if not (self.cascade and self.words > 0 and self.pinyin > 0 and words and sounds):
            return False
        (w_row, w1), (p_row, p1) = next(iter(words.items())), next(iter(sounds.items()))
        w2 = list(words.values())[1] if len(words) > 1 else 0.0
        p2 = list(sounds.values())[1] if len(sounds) > 1 else 0.0
        return (
            w_row == p_row and w1 >= self.lexical_floor
            and w1 >= self.lexical_margin * w2 and p1 >= self.lexical_margin * p2
        )


def language_key() -> str:
    """A digest of the knowledge files (shipped and the operator's): the stored tokens of an index
    depend on them (dialect forms, stopwords), its vectors do not. An index saved under other
    knowledge is re-tokenised on load, never searched with stale tokens."""
    digest = hashlib.sha256(f"v{INDEX_VERSION}".encode())
    for directory in directories():
        for path in sorted(directory.glob("*")) if directory.is_dir() else ():
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def catalog_key(docs: Iterable[Document], embedder: Embedder) -> str:
    digest = hashlib.sha256(f"v{INDEX_VERSION}|{embedder.name}|{embedder.dim}".encode())
    for fingerprint in sorted(d.fingerprint() for d in docs):
        digest.update(fingerprint.encode())
    return digest.hexdigest()[:24]


class HybridIndex:
    """Search the catalog; keep up with single-item edits; persist beside the database."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        ann_threshold: int = 20000,
        fusion: Fusion | None = None,
        language: Knowledge | None = None,
    ) -> None:
        self.embedder = embedder
        # the terminology thesaurus and action words (tools/knowledge/); Knowledge() disables
        self.language = knowledge() if language is None else language
        self.ann_threshold = ann_threshold
        self.fusion = fusion or Fusion()
        self.docs: dict[int, Document] = {}
        self.key: str | None = None
        self.retokenised = False  # loaded from an index saved under other knowledge files
        self.vectors: VectorStore | None = None
        self._tokens: dict[int, tuple[list[str], list[str]]] = {}
        self._vector_ids: dict[int, list[int]] = {}
        self._owner: dict[int, tuple[int, int]] = {}  # vector id → (item id, passage index)
        self._next_id = 0
        self._lock = threading.RLock()
        self._dirty = True
        self._rows: list[int] = []
        self._words = LexicalIndex()
        self._pinyin = LexicalIndex()
        self._by_hall: dict[int, np.ndarray] = {}
        self._by_city: dict[str, np.ndarray] = {}
        self._objects: dict[tuple[int, str], tuple[str, frozenset[str]]] = {}  # name → (bare, object pairs)
        self._vector_row = np.zeros(0, dtype=np.int64)  # vector id → row (-1: none)
        self._vector_pos = np.zeros(0, dtype=np.int64)  # vector id → passage index

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        docs: Iterable[Document],
        embedder: Embedder,
        cache_dir: Path | None = None,
        *,
        ann_threshold: int = 20000,
        fusion: Fusion | None = None,
    ) -> HybridIndex:
        """Load the persisted index for exactly this catalog, else update the last one, else
        embed everything; then persist. Only changed items are ever re-embedded."""
        docs = list(docs)
        key = catalog_key(docs, embedder)
        index: HybridIndex | None = None
        if cache_dir is not None:
            _seed_from_package(cache_dir, key, embedder.name)  # before the passage cache reads its file
        if cache_dir is not None and not isinstance(embedder, PassageCache):
            embedder = PassageCache(embedder, cache_dir / _passages_file(embedder.name))
        if cache_dir is not None:
            index = cls._load_cached(cache_dir, key, embedder, ann_threshold, fusion)
            if index is not None and index.key == key:
                if index.retokenised:  # saved under other knowledge: keep the fresh tokens
                    index.persist(cache_dir)
                return index
        if index is None:
            index = cls(embedder, ann_threshold=ann_threshold, fusion=fusion)
            index._add_all(docs)
        else:
            index.sync(docs)
        index.key = key
        if cache_dir is not None:
            index.persist(cache_dir)
        return index

    def persist(self, cache_dir: Path) -> None:
        """Save under the key of the current catalog; drop this embedder's older copies."""
        key = catalog_key(self.docs.values(), self.embedder)
        self.save(cache_dir / key)
        _prune(cache_dir, keep=key, embedder=self.embedder)
        if isinstance(self.embedder, PassageCache):
            self.embedder.save()

    @classmethod
    def _load_cached(
        cls, cache_dir: Path, key: str, embedder: Embedder, ann: int, fusion: Fusion | None
    ) -> HybridIndex | None:
        candidates = [cache_dir / key] + sorted(
            (p for p in cache_dir.glob("*") if p.name != key and (p / META).exists()),
            key=lambda p: (p / META).stat().st_mtime,
            reverse=True,
        )
        for path in candidates:
            if (path / META).exists():
                try:
                    return cls.load(path, embedder, ann_threshold=ann, fusion=fusion)
                except (ValueError, OSError, RuntimeError, KeyError):
                    continue  # another embedder's index, or a damaged one: skip it
        return None

    def _add_all(self, docs: list[Document]) -> None:
        total = sum(len(d.passages) for d in docs)
        self.vectors = VectorStore(self.embedder.dim, index_kind(total, self.ann_threshold))
        texts = [clean(t) for d in docs for _, t in d.passages]
        if isinstance(self.embedder, PassageCache):  # only texts never embedded go to the model
            vectors = self.embedder.embed_passages(texts, embed=embed_passages)
        else:
            vectors = embed_passages(self.embedder, texts)
        for doc in docs:  # the whole vocabulary first, so every item is cut with it
            shared_tokenizer().add_words(doc.vocabulary())
        row = 0
        with self._lock:
            for doc in docs:
                count = len(doc.passages)
                self._store(doc, vectors[row : row + count])
                row += count

    def _store(self, doc: Document, vectors: np.ndarray | None) -> None:
        """Record `doc`; new vectors replace its old ones (None: keep them)."""
        assert self.vectors is not None
        tokenizer = shared_tokenizer()
        tokenizer.add_words(doc.vocabulary())
        if vectors is not None:
            self._drop_vectors(doc.item_id)
            ids = list(range(self._next_id, self._next_id + len(vectors)))
            self._next_id += len(vectors)
            self.vectors.add(np.asarray(ids, dtype=np.int64), vectors)
            self._vector_ids[doc.item_id] = ids
            for position, vector_id in enumerate(ids):
                self._owner[vector_id] = (doc.item_id, position)
        self.docs[doc.item_id] = doc
        self._tokens[doc.item_id] = _analyse(doc)
        self._dirty = True

    def _drop_vectors(self, item_id: int) -> None:
        old = self._vector_ids.pop(item_id, [])
        for vector_id in old:
            self._owner.pop(vector_id, None)
        if old and self.vectors is not None:
            self.vectors.remove(old)

    def upsert(self, doc: Document) -> bool:
        """Add or replace one item; re-embeds only when its texts changed. True if changed."""
        with self._lock:
            old = self.docs.get(doc.item_id)
            if old is not None and old.fingerprint() == doc.fingerprint():
                return False
            same_text = old is not None and old.passages == doc.passages
            vectors = None if same_text else self.embedder.embed_passages(
                [clean(t) for _, t in doc.passages]
            )
            if self.vectors is None:
                self.vectors = VectorStore(self.embedder.dim, "flat")
            self._store(doc, vectors)
            self.key = None
            return True

    def remove(self, item_id: int) -> bool:
        with self._lock:
            if self.docs.pop(item_id, None) is None:
                return False
            self._tokens.pop(item_id, None)
            self._drop_vectors(item_id)
            self._dirty = True
            self.key = None
            return True

    def sync(self, docs: Iterable[Document]) -> int:
        """Make the index hold exactly `docs`; returns how many items changed."""
        docs = list(docs)
        with self._lock:
            wanted = {d.item_id for d in docs}
            changed = sum(self.remove(i) for i in list(self.docs) if i not in wanted)
            changed += sum(self.upsert(d) for d in docs)
            return changed

    def _refresh(self) -> None:
        """Rebuild the cheap derived structures (BM25, filters) after edits."""
        with self._lock:
            if not self._dirty:
                return
            rows = sorted(self.docs)
            self._words.build([self._tokens[i][0] for i in rows])
            self._pinyin.build([self._tokens[i][1] for i in rows])
            by_hall: dict[int, list[int]] = {}
            by_city: dict[str, list[int]] = {}
            for row, item_id in enumerate(rows):
                for hall in self.docs[item_id].halls:
                    by_hall.setdefault(hall, []).append(row)
                for city in self.docs[item_id].cities:
                    by_city.setdefault(city, []).append(row)
            self._by_hall = {h: np.asarray(r) for h, r in by_hall.items()}
            self._by_city = {c: np.asarray(r) for c, r in by_city.items()}
            row_of = {item_id: row for row, item_id in enumerate(rows)}
            self._vector_row = np.full(self._next_id, -1, dtype=np.int64)
            self._vector_pos = np.zeros(self._next_id, dtype=np.int64)
            for vector_id, (item_id, position) in self._owner.items():
                self._vector_row[vector_id] = row_of[item_id]
                self._vector_pos[vector_id] = position
            self._rows = rows
            self._dirty = False

    # ------------------------------------------------------------------ searching

    def search(
        self, query: str, k: int = 5, hall_id: int | None = None, city: str | None = None
    ) -> list[Hit]:
        """The `k` best items for a resident's question, optionally only those a hall or
        a city handles. Rank-fused; `Hit.score` and `signals["margin"]` tell how sure."""
        with self._lock:
            self._refresh()
            return self._search(query, k, hall_id, city)

    def _search(self, query: str, k: int, hall_id: int | None, city: str | None) -> list[Hit]:
        rows, fusion = self._rows, self.fusion
        if not rows or k <= 0:
            return []
        allowed = np.ones(len(rows), dtype=bool)
        if hall_id is not None:
            allowed = _mask(len(rows), self._by_hall.get(hall_id))
        if city is not None:
            allowed &= _mask(len(rows), self._by_city.get(_city(city, self._by_city)))
        if not allowed.any():
            return []
        text = normalise(query)
        tokenizer = shared_tokenizer()
        expansion = self.language.expand(text)
        query_words = tokenizer.words(text)
        extra = normalise(expansion.text())
        own_sounds = pinyin_grams(tokenizer.content(text))
        sounds = list(own_sounds)
        for term in extra.split():
            sounds.extend(pinyin_grams(term))
        # the question's own words count twice: what the knowledge adds may help, never outvote
        lexical = {
            "words": (fusion.words, *_ranks(
                self._words.scores(query_words * 2 + tokenizer.words(extra)), allowed, fusion.depth
            )),
            "pinyin": (fusion.pinyin, *_ranks(self._pinyin.scores(sounds), allowed, fusion.depth)),
        }
        signals: dict[str, tuple[float, dict[int, float], dict[int, int]]] = {}
        # words the knowledge added can make the lexical signals agree on their own: the
        # cascade trusts only what the question's own words and sounds settle (办护照, though
        # the thesaurus adds 普通护照), and then only when the added words keep that first hit
        if fusion.decisive(lexical["words"][1], lexical["pinyin"][1]) and (
                not expansion or self._settled_by_own_words(query_words, own_sounds, allowed, lexical)):
            positions = None
            best = (fusion.words + fusion.pinyin) / (fusion.k + 1)
        else:
            dense_text = f"{text} {expansion.text()}" if expansion else text
            dense, positions = self._dense(dense_text, allowed, rows)
            signals["dense"] = (fusion.dense, *_ranks(dense, allowed, fusion.depth))
            best = fusion.best
        signals.update(lexical)
        fused: dict[int, float] = {}
        for weight, _, ranks in signals.values():
            for row, rank in ranks.items():
                fused[row] = fused.get(row, 0.0) + weight / (fusion.k + rank)
        structure = self._structure(fused, expansion, text)
        ranked = {row: score + structure.get(row, 0.0) for row, score in fused.items()}
        order = sorted(ranked, key=lambda r: (-ranked[r], r))[:k]
        # the best passage of a hit only: looking it up for every retrieved row cost more
        # than the vector search itself at 10,000 items
        best_passage = {} if positions is None else {
            row: self.docs[rows[row]].passages[int(positions[row])][1]
            for row in order if positions[row] >= 0
        }
        return [
            self._hit(row, order, fused, ranked, signals, best_passage, best, query_words, structure)
            for row in order
        ]

    def _settled_by_own_words(
        self, query_words: list[str], own_sounds: list[str], allowed: np.ndarray,
        lexical: dict[str, tuple[float, dict[int, float], dict[int, int]]],
    ) -> bool:
        """Would the question's own words and sounds, without what the knowledge added, put the
        same item first as decisively?"""
        fusion = self.fusion
        words, _ = _ranks(self._words.scores(query_words * 2), allowed, fusion.depth)
        sounds, _ = _ranks(self._pinyin.scores(own_sounds), allowed, fusion.depth)
        first = next(iter(lexical["words"][1]), None)
        return fusion.decisive(words, sounds) and next(iter(words), None) == first

    def _structure(
        self, fused: dict[int, float], expansion: Expansion, text: str
    ) -> dict[int, float]:
        """The object + action bonus of each candidate's official name.

        A name is its object and its actions (居民身份证 + 换领). The object earns `object`,
        scaled by the share of its character pairs the question says, in its own words or in
        official terms (老人优待证 reads 老年人优待证): 居民身份证换领 is all 居民身份证, while
        临时居民身份证 or 80周岁以上老年人高龄津贴 carry qualifiers nobody said. Pairs, not
        words, so a catalog's wording (食品经营许可 for 食品经营许可证) still counts and no
        tokenisation decides. A name that also holds an action the question means earns
        `action` more: among siblings of one object (补办, 换发, 延续, 注销) the action decides.
        One whose name holds a follow-up action (knowledge's `follow_ups`) while the question
        means another loses `unsaid`: 要去备案 is the first issue, not 备案变更."""
        fusion = self.fusion
        if not fused or not (fusion.object or fusion.action):
            return {}
        heard = _pairs(text) | _pairs(self.language.reading(text))
        for term in expansion.objects:
            heard |= _pairs(term)
        wanted = sorted(set(expansion.actions), key=len, reverse=True)
        follow_ups = self.language.follow_ups
        # an action said under a negation (执照不想注销) is no follow-up said: its name's 注销 is unsaid
        for word in expansion.denied:
            text = text.replace(word, " ")
        bonus: dict[int, float] = {}
        later: dict[frozenset[str], list[int]] = {}  # object → its candidates holding an unsaid follow-up
        # a follow-up's verb said bare (补社保卡, 社保卡挂失: 补 and 挂失 are no words of the
        # knowledge's actions) is still an action said: no first issue is preferred then
        bare = any(f[0] in text for f in follow_ups)
        first_issue: set[frozenset[str]] = set()  # objects with a candidate holding none
        for row in fused:
            full = self.docs[self._rows[row]].name  # actions in brackets count: 道路运输证办理（补办）
            _, pairs = self._object_pairs(full)
            if not pairs:
                # a name that is only an action (停业登记, 复业登记: a tax office's, of whatever the
                # taxpayer runs) earns that action when meant; it has no object to be read
                if wanted and any(w in full for w in wanted):
                    bonus[row] = fusion.action
                continue
            share = len(pairs & heard) / len(pairs)
            if share < fusion.cover:  # a name mostly about something else (老年人 in 老年人优待证)
                continue
            value = fusion.object * share
            if wanted and any(w in full for w in wanted):
                value += fusion.action
            # a question that names what it wants done tells a follow-up unsaid: 社保卡要改电话 means no 挂失
            if wanted and self._unsaid(full, wanted, text, follow_ups):
                value -= fusion.unsaid
            elif not wanted and not bare and self._unsaid(full, [], text, follow_ups):
                later.setdefault(pairs, []).append(row)
            elif not wanted and not bare:
                first_issue.add(pairs)
            bonus[row] = value
        # One that names no action at all (烟草的证咋个办, 单位让我去弄社保卡) means the first issue
        # only where the catalog lists it beside the follow-ups of the same object (烟草专卖零售
        #许可证新办 beside its 补办): then the follow-ups yield. With no such sibling nothing is
        # taken away, since the words for the follow-up may be missing from the knowledge
        # (社保卡补张新的). On the tuned sets (#18) this decided sc3 088/092 and ho3 054.
        for pairs, rows in later.items():
            if pairs in first_issue:
                for row in rows:
                    bonus[row] -= fusion.unsaid
        return bonus

    @staticmethod
    def _unsaid(name: str, wanted: list[str], text: str, follow_ups: frozenset[str]) -> bool:
        """Does the name hold a follow-up action that is neither among the actions the question
        means (longest first: 期满换证 is meant, so its 换证 is too) nor in its own words (注销户口
        证明 says its 注销)?"""
        for word in wanted:
            name = name.replace(word, " ")
        return any(f in name and f not in text for f in follow_ups)

    def _object_pairs(self, name: str) -> tuple[str, frozenset[str]]:
        """The name as the structure reads it (no brackets, no neutral ending), and the
        character pairs of its object: what is left once its action words are taken out."""
        key = (id(self.language), name)  # the action words decide what is left
        known = self._objects.get(key)
        if known is None:
            bare = _GENERIC.sub("", _PAREN.sub("", name)) or name
            acted = _cover(bare, self.language.action_order) or [False] * len(bare)
            pairs = frozenset(
                bare[i:i + 2] for i in range(len(bare) - 1)
                if not (acted[i] or acted[i + 1]) and not _JOINS.search(bare[i:i + 2])
            )
            known = (bare, pairs)
            if len(self._objects) < 200_000:
                self._objects[key] = known
        return known

    def _dense(
        self, text: str, allowed: np.ndarray, rows: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-item best passage cosine (max over its passages), NaN where not retrieved, and
        the position of that passage in the item's passages (-1 where not retrieved)."""
        scores = np.full(len(rows), np.nan, dtype=np.float32)
        positions = np.full(len(rows), -1, dtype=np.int64)
        if self.vectors is None or self.vectors.live == 0 or not text:
            return scores, positions
        query = self.embedder.embed_queries([text])[0]
        fetch = min(self.vectors.live, self.fusion.depth * 8)
        while True:
            cosines, ids = self.vectors.search(query, fetch)
            hit_rows = self._vector_row[ids]
            usable = hit_rows >= 0
            usable[usable] = allowed[hit_rows[usable]]
            # results come best first: the first occurrence of a row is its best passage
            found, first = np.unique(hit_rows[usable], return_index=True)
            if found.size >= self.fusion.depth or fetch >= self.vectors.live:
                break
            fetch = min(self.vectors.live, fetch * 4)
        cosines, ids = cosines[usable][first], ids[usable][first]
        scores[found] = cosines
        positions[found] = self._vector_pos[ids]
        return scores, positions

    def _hit(
        self,
        row: int,
        order: list[int],
        fused: dict[int, float],
        ranked: dict[int, float],
        signals: dict[str, tuple[float, dict[int, float], dict[int, int]]],
        best_passage: dict[int, str],
        best: float,
        query_words: list[str],
        structure: dict[int, float],
    ) -> Hit:
        """One result; `score` is the fused score over the best the consulted signals allow,
        and `signals["dense_skipped"]` says the cascade answered from words and sounds alone.
        The object+action bonus (`signals["structure"]`) orders the hits and counts in
        `margin`, but not in `score`, which stays comparable across questions."""
        doc = self.docs[self._rows[row]]
        position = order.index(row)
        following = ranked[order[position + 1]] if position + 1 < len(order) else 0.0
        detail: dict[str, float] = {}
        agree = 0
        for name, (_, raw, ranks) in signals.items():
            detail[name] = float(raw.get(row, 0.0))
            detail[f"{name}_rank"] = float(ranks.get(row, 0))
            agree += ranks.get(row) == 1
        detail["structure"] = structure.get(row, 0.0)
        detail["fused"] = fused[row]
        detail["margin"] = (ranked[row] - following) / best
        detail["ranked"] = ranked[row] / best  # what ordered the hits: `score` with the structure
        detail["agree"] = float(agree)
        detail["dense_skipped"] = float("dense" not in signals)
        # 1.0: the vectors found it near in meaning (the embedder's `near_line` cosine), or were not
        # asked, or the embedder sets no such line; 0.0: first in rank only
        floor = near_line(self.embedder.name)
        detail["near"] = float(floor is None or "dense" not in signals or detail["dense"] >= floor)
        passage = best_passage.get(row) or _lexical_passage(doc, query_words)
        return Hit(
            item_id=doc.item_id, code=doc.code, name=doc.name, department=doc.department,
            legal_basis=doc.legal_basis, passage=passage, score=fused[row] / best, signals=detail,
        )

    # ------------------------------------------------------------------ persistence

    def save(self, path: Path) -> None:
        """Write atomically (a temporary directory renamed into place)."""
        assert self.vectors is not None
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
            self.vectors.save(tmp / VECTORS)
            meta = {
                "version": INDEX_VERSION, "embedder": self.embedder.name,
                "dim": self.embedder.dim, "key": path.name, "kind": self.vectors.kind,
                "next_id": self._next_id, "dead": sorted(self.vectors.dead),
                "docs": [d.to_json() for d in self.docs.values()],
                "vector_ids": {str(i): v for i, v in self._vector_ids.items()},
                "tokens": {str(i): t for i, t in self._tokens.items()},
                "language": language_key(),
            }
            (tmp / META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
            try:
                os.replace(tmp, path)
            except OSError:  # another process saved the same catalog first
                shutil.rmtree(tmp, ignore_errors=True)
            self.key = path.name

    @classmethod
    def load(
        cls,
        path: Path,
        embedder: Embedder,
        *,
        ann_threshold: int = 20000,
        fusion: Fusion | None = None,
    ) -> HybridIndex:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        if (meta["version"], meta["embedder"], meta["dim"]) != (
            INDEX_VERSION, embedder.name, embedder.dim
        ):
            raise ValueError(f"{path} was built by another embedder or index version")
        index = cls(embedder, ann_threshold=ann_threshold, fusion=fusion)
        kind: Kind = meta["kind"]
        index.vectors = VectorStore.load(path / VECTORS, embedder.dim, kind, set(meta["dead"]))
        index._next_id = int(meta["next_id"])
        stale = meta.get("language") != language_key()
        docs = [Document.from_json(data) for data in meta["docs"]]
        for doc in docs:  # the whole vocabulary first, so every item is cut with it
            shared_tokenizer().add_words(doc.vocabulary())
        for doc in docs:
            index.docs[doc.item_id] = doc
            index._tokens[doc.item_id] = _analyse(doc) if stale else tuple(meta["tokens"][str(doc.item_id)])
            ids = meta["vector_ids"][str(doc.item_id)]
            index._vector_ids[doc.item_id] = ids
            for position, vector_id in enumerate(ids):
                index._owner[vector_id] = (doc.item_id, position)
        index.key = meta["key"]
        index.retokenised = stale
        return index


def _analyse(doc: Document) -> tuple[list[str], list[str]]:
    """The item's BM25 documents: words and pinyin pairs, title fields repeated."""
    generation = shared_tokenizer().generation
    words: list[str] = []
    sounds: list[str] = []
    for name, text in doc.passages:
        weight = FIELD_WEIGHTS.get(name, 1)
        passage_words, passage_sounds = _analyse_text(text, generation)
        words.extend(passage_words * weight)
        sounds.extend(passage_sounds * weight)
    return words, sounds


@lru_cache(maxsize=50_000)
def _analyse_text(text: str, generation: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tokens of one passage; catalogs repeat texts (common FAQs, material lists)."""
    del generation  # part of the cache key only
    tokenizer = shared_tokenizer()
    normalised = normalise(text)
    return tuple(tokenizer.words(normalised)), tuple(pinyin_grams(tokenizer.content(normalised)))


def _ranks(
    scores: np.ndarray, allowed: np.ndarray, depth: int
) -> tuple[dict[int, float], dict[int, int]]:
    """Top `depth` allowed rows with a positive (non-NaN) score: raw score and 1-based rank."""
    usable = allowed & (scores > 0)  # NaN compares False
    candidates = np.flatnonzero(usable)
    if candidates.size > depth:
        top = np.argpartition(-scores[candidates], depth - 1)[:depth]
        candidates = candidates[top]
    ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
    raw = {int(r): float(scores[r]) for r in ordered}
    return raw, {int(r): rank for rank, r in enumerate(ordered, start=1)}


_PAREN = re.compile(r"[（(][^）)]*[）)]")
# what joins a name's parts and names nothing (挂失与补换, 注册、变更): no pair across it counts
_JOINS = re.compile(r"[与和及或、，,/《》“”\s]")
# what names end with when they name no particular action: neither said nor unsaid
_GENERIC = re.compile(r"(办理|申请|登记)$")


def _pairs(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _cover(name: str, words: list[str], start: list[bool] | None = None) -> list[bool]:
    """Which characters of `name` the words (longest first) account for; [] when none does."""
    covered = list(start) if start else [False] * len(name)
    hit = False
    for word in words:
        at = name.find(word)
        while at >= 0:
            covered[at:at + len(word)] = [True] * len(word)
            hit = True
            at = name.find(word, at + 1)
    return covered if hit or start is not None else []


def _lexical_passage(doc: Document, words: list[str]) -> str:
    """The passage that holds most of the question's words (the name on a tie)."""
    best, best_count = doc.name, 0
    for _, text in doc.passages:
        count = sum(1 for w in set(words) if len(w) > 1 and w in text)
        if count > best_count:
            best, best_count = text, count
    return best


def _mask(size: int, rows: np.ndarray | None) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    if rows is not None and rows.size:
        mask[rows] = True
    return mask


def _city(name: str, known: dict[str, np.ndarray]) -> str:
    """Accept 柳州 for 柳州市."""
    if name in known:
        return name
    for city in known:
        if city.rstrip("市") == name.rstrip("市"):
            return city
    return name


def _passages_file(embedder_name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in embedder_name)
    return f"passages-{safe}.npz"


def _seed_from_package(cache_dir: Path, key: str, embedder_name: str) -> None:
    """A packaged index for exactly this catalog and embedder (the key says both) is copied
    into the data dir, where it is loaded, updated and pruned like one built here; the
    packaged passage vectors of this embedder seed its passage cache, so even a catalog that
    differs from the demo's (or a new tokenisation) embeds only the passages it adds."""
    passages = _passages_file(embedder_name)
    if (PREBUILT_DIR / passages).exists() and not (cache_dir / passages).exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_file = tempfile.mkstemp(prefix=".passages-", suffix=".npz", dir=cache_dir)
        os.close(fd)
        shutil.copyfile(PREBUILT_DIR / passages, tmp_file)
        os.replace(tmp_file, cache_dir / passages)
    shipped, target = PREBUILT_DIR / key, cache_dir / key
    if not (shipped / META).exists() or (target / META).exists():
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    try:
        for name in (META, VECTORS):
            shutil.copyfile(shipped / name, tmp / name)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process seeded it first, or no room: build


def _prune(cache_dir: Path, *, keep: str, embedder: Embedder) -> None:
    """Remove this embedder's older indexes; another embedder's stay (a rollback is cheap)."""
    for path in cache_dir.glob("*"):
        if path.name == keep or not (path / META).exists():
            continue
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("embedder") == embedder.name:
            shutil.rmtree(path, ignore_errors=True)
