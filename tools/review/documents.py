"""Which document a page of text is, and its key fields — driven by `kinds.json`.

The kinds, their cues and field patterns are data, so a province adds a certificate or
adjusts a cue without touching code. Recognition counts cue words in the OCR text; a kind's
'not' cues rule it out (an 户口簿 member page carries 姓名 and 公民身份号码 like an ID card).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

KINDS_FILE = Path(__file__).with_name("kinds.json")


@dataclass(frozen=True)
class Kind:
    code: str
    name: str
    document: str  # what it is a page of: 居民身份证, 居民户口簿…
    part: str | None  # which page or side: 人像面, 国徽面, 首页…
    cues: tuple[str, ...]
    min_cues: int
    excludes: tuple[str, ...]
    fields: dict[str, re.Pattern[str]]
    checks: tuple[str, ...]

    def hits(self, text: str) -> int:
        if any(cue in text for cue in self.excludes):
            return 0
        return sum(1 for cue in self.cues if cue in text)


@dataclass(frozen=True)
class Document:
    """How a document relates to an item's materials, and which parts make it complete."""

    name: str
    materials: tuple[str, ...]
    not_materials: tuple[str, ...]
    parts: dict[str, str]  # required part → what to ask for when it is missing
    expired_ok: tuple[str, ...]

    def fits(self, material: str) -> bool:
        """Can this document be the named material (居民身份证 for 居民身份证或社会保障卡)?"""
        return any(m in material for m in self.materials) and not any(n in material for n in self.not_materials)

    def expiry_expected(self, material: str) -> bool:
        return any(material.startswith(prefix) for prefix in self.expired_ok)


@dataclass(frozen=True)
class Catalogue:
    kinds: tuple[Kind, ...]
    documents: dict[str, Document]

    def kind(self, code: str | None) -> Kind | None:
        return next((k for k in self.kinds if k.code == code), None)


@dataclass(frozen=True)
class Recognised:
    kind: Kind | None
    fields: dict[str, str] = field(default_factory=dict)


def load(path: Path = KINDS_FILE) -> Catalogue:
    raw = json.loads(path.read_text("utf-8"))
    kinds = tuple(
        Kind(
            code=k["code"], name=k["name"], document=k["document"], part=k.get("part"), cues=tuple(k["cues"]),
            min_cues=int(k["min_cues"]), excludes=tuple(k.get("not", [])),
            fields={name: re.compile(pattern) for name, pattern in k.get("fields", {}).items()},
            checks=tuple(k.get("checks", [])),
        )
        for k in raw["kinds"]
    )
    documents = {
        name: Document(name=name, materials=tuple(d["materials"]), not_materials=tuple(d.get("not_materials", [])),
                       parts=dict(d.get("parts", {})), expired_ok=tuple(d.get("expired_ok", [])))
        for name, d in raw["documents"].items()
    }
    missing = {k.document for k in kinds} - set(documents)
    if missing:
        raise ValueError(f"{path}: kinds name documents it does not describe: {sorted(missing)}")
    return Catalogue(kinds=kinds, documents=documents)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return load()


def recognise(text: str, kinds: tuple[Kind, ...] | None = None) -> Recognised:
    """The kind with the most cues present (at least its minimum), and its fields; text is normalised."""
    kinds = kinds if kinds is not None else catalogue().kinds
    best, best_hits = None, 0
    for kind in kinds:
        hits = kind.hits(text)
        if hits >= kind.min_cues and hits > best_hits:
            best, best_hits = kind, hits
    if best is None:
        return Recognised(kind=None)
    return Recognised(kind=best, fields=extract(best, text))


def extract(kind: Kind, text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, pattern in kind.fields.items():
        match = pattern.search(text)
        if match:
            found[name] = match.group("v")
    return found

