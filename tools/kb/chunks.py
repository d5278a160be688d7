"""Chinese-aware chunking: cut at sentence ends, never inside a sentence that fits.

Chinese has no spaces, so fixed-width windows cut words and numbers in half; sentences end
at 。！？； (and line breaks in documents), and a chunk packs whole sentences up to a size,
repeating the previous chunk's last sentence when it is short, so a condition and its
consequence stay together.
"""

from __future__ import annotations

import re

CHUNK = 400  # characters: about one answer; e5-small reads 512 tokens, roughly as many characters
_ENDS = re.compile(r"(?<=[。！？!?；;])|\n+")
_SPACE = re.compile(r"[ \t\u3000]+")


def sentences(text: str) -> list[str]:
    """Sentences and lines, stripped, empty ones dropped."""
    return [s.strip() for s in _ENDS.split(_SPACE.sub(" ", text)) if s and s.strip()]


def chunk(text: str, size: int = CHUNK) -> list[str]:
    """Whole sentences packed up to `size` characters; a longer sentence is cut at clause marks
    (，、) or, failing those, at `size`."""
    pieces: list[str] = []
    for sentence in sentences(text):
        pieces.extend(_split_long(sentence, size))
    chunks: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and sum(map(len, current)) + len(piece) > size:
            chunks.append(_join(current))
            tail = current[-1]
            current = [tail] if len(tail) <= size // 4 and len(tail) + len(piece) <= size else []
        current.append(piece)
    if current:
        chunks.append(_join(current))
    return chunks


def _split_long(sentence: str, size: int) -> list[str]:
    if len(sentence) <= size:
        return [sentence]
    parts: list[str] = []
    current = ""
    for clause in re.split(r"(?<=[，,、：:])", sentence):
        while len(clause) > size:
            parts.append(current + clause[: size - len(current)])
            clause, current = clause[size - len(current) :], ""
        if len(current) + len(clause) > size:
            parts.append(current)
            current = ""
        current += clause
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()]


def _join(parts: list[str]) -> str:
    """Sentences of a Chinese text join without spaces; lines of a list keep a break."""
    out = ""
    for part in parts:
        if out and not re.search(r"[。！？!?；;，,：:]$", out):
            out += "\n"
        out += part
    return out
