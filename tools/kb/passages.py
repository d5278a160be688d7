"""What of a knowledge-base entry is embedded and matched: its question, its answer whole, and
the answer's sentences, courtesy left out.

A knowledge base that holds answers only is searched with questions, and a question is short
while an answer covers several points. Government answers often restate the question in one
sentence (机动车驾驶人有下列交通违法行为之一，一次记3分：…) and list details in the rest, so an
entry is scored by its whole answer and by its best sentence together (`tools.kb.ranking`).
Greetings and sign-offs (您好，…… 如有疑问请拨打12345) say nothing about the question; they
are data (tools/knowledge/boilerplate.tsv), removed before embedding, on both sides.
"""

from __future__ import annotations

import re

from tongban.memory.models import KbEntry
from tongban.tools.kb.chunks import chunk, sentences
from tongban.tools.language import knowledge

# an answer is embedded whole up to this many characters (e5-small reads 512 tokens, and other
# embedders cut there), longer ones in chunks of whole sentences
WHOLE = 600
# a sentence longer than this is cut at clause marks: a unit should say one thing
UNIT = 150
# shorter pieces (不可以。 一、申请条件) join the next: alone they resemble every question a little
MIN_UNIT = 8
CLOSING_MAX = 30  # a closing line longer than this says something after all
_PUNCT = "，,！!。.：:；;、 \t\u3000\n"


def _openings() -> tuple[str, ...]:
    return tuple(sorted(knowledge().boilerplate.get("opening", ()), key=len, reverse=True))


def _closings() -> tuple[str, ...]:
    return knowledge().boilerplate.get("closing", ())


def strip_opening(text: str) -> str:
    """The text without the courtesy it starts with (您好！请问……), as often as it repeats."""
    text = text.strip()
    openings = _openings()
    while True:
        phrase = next((p for p in openings if text.startswith(p)), None)
        if phrase is None or len(phrase) >= len(text.rstrip(_PUNCT)):
            return text
        text = text[len(phrase):].lstrip(_PUNCT)


def strip_boilerplate(text: str) -> str:
    """An answer without its greeting and its short closing lines; the text itself when nothing
    else would be left."""
    body = strip_opening(text)
    closings = _closings()
    parts = sentences(body)
    while len(parts) > 1 and len(parts[-1]) <= CLOSING_MAX and parts[-1].startswith(closings):
        cut = body.rfind(parts.pop())
        body = body[:cut].rstrip()
    return body or text.strip()


def units(text: str) -> list[str]:
    """The answer's sentences for max-over-passages scoring: long ones cut at clause marks, very
    short ones joined to the next."""
    pieces: list[str] = []
    for sentence in sentences(text):
        pieces.extend(chunk(sentence, UNIT) if len(sentence) > UNIT else [sentence])
    out: list[str] = []
    carry = ""
    for piece in pieces:
        piece = carry + piece
        if len(re.sub(r"\W", "", piece)) < MIN_UNIT:
            carry = piece
            continue
        out.append(piece)
        carry = ""
    if carry and out:
        out[-1] += carry
    elif carry:
        out.append(carry)
    return out


def entry_passages(entry: KbEntry) -> tuple[tuple[str, str], ...]:
    """(field, text) pairs: `question` (an FAQ's own question), `text` (the answer whole, or its
    chunks when long) and `sentence` (its units, when it has more than one)."""
    passages: list[tuple[str, str]] = []
    if entry.title.strip():
        passages.append(("question", strip_opening(entry.title)))
    body = strip_boilerplate(entry.text)
    if not body:
        return tuple(passages)
    passages.extend([("text", body)] if len(body) <= WHOLE else [("text", c) for c in chunk(body)])
    parts = units(body)
    if len(parts) > 1:
        passages.extend(("sentence", p) for p in parts)
    return tuple(passages)
