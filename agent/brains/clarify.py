"""Ask when unsure: offer the two or three items retrieval could not tell apart.

A careful clerk asks rather than guesses. When the first hits are close and the question
names none of them, the agent asks one short question offering them (numbered in elderly mode
and on SMS, where buttons do not exist), and the next message picks one: by its number (2, 二,
第二个), by its name, or by a part of the name (护照 for 普通护照签发).
"""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz

from tongban.tools.retrieval import Hit
from tongban.tools.text import normalise

# the first hit's lead over the next (retrieval's `margin`) below which the agent asks
CLOSE_MARGIN = 0.035
MAX_CHOICES = 3
_ORDINALS = {"1": 0, "一": 0, "头": 0, "2": 1, "二": 1, "两": 1, "3": 2, "三": 2}
_NUMBER = re.compile(r"^(?:第|选|要|是)?\s*([123一二两三头])\s*(?:个|项|条|号|种)?(?:吧|啦|呀|的)?$")
_LAST = re.compile(r"^(?:最后|后面)(?:那|一)?个")


def choices(hits: list[Hit], *, named: bool) -> list[dict[str, str]] | None:
    """The items to offer, best first, or None when the first hit is clear enough to answer.

    Never when the question names the first hit, or when words and sounds alone settled it
    (the retrieval cascade): only a close call between hits retrieval ranked together."""
    if named or len(hits) < 2 or hits[0].signals.get("dense_skipped"):
        return None
    top = hits[0]
    if top.signals.get("margin", 1.0) >= CLOSE_MARGIN:
        return None
    offered = [top]
    for hit in hits[1:MAX_CHOICES]:
        if (top.score - hit.score) <= 2 * CLOSE_MARGIN + 0.05 and hit.code not in {h.code for h in offered}:
            offered.append(hit)
    if len(offered) < 2:
        return None
    return [{"code": h.code, "name": h.name} for h in offered]


def rivals(hits: list[Hit]) -> list[dict[str, str]] | None:
    """The first few distinct hits, for a model to pick among when retrieval answered without
    being sure (no close call, so the resident is not asked)."""
    offered: list[Hit] = []
    for hit in hits:
        if hit.code not in {h.code for h in offered} and len(offered) < MAX_CHOICES:
            offered.append(hit)
    return [{"code": h.code, "name": h.name} for h in offered] if len(offered) >= 2 else None


# how far below the first a weak candidate may score and still be offered beside it
UNSURE_SPREAD = 0.3


def unsure(hits: list[Hit]) -> list[dict[str, str]] | None:
    """The best two or three hits, in retrieval's own order, for a question plainly about a
    service whose hits were too weak to answer (`intents.plainly_service`): asking beats both a
    guess and "out of scope". Those far below the first are left out, but two are always offered
    (one offered item would be a yes-or-no question the answer cannot pick by)."""
    offered: list[Hit] = []
    for hit in hits:
        if hit.code in {h.code for h in offered} or len(offered) == MAX_CHOICES:
            continue
        if len(offered) >= 2 and offered[0].score - hit.score > UNSURE_SPREAD:
            continue
        offered.append(hit)
    if len(offered) < 2:
        return None
    return [{"code": h.code, "name": h.name} for h in offered]


def question(offered: list[dict[str, str]], *, numbered: bool) -> tuple[str, list[str]]:
    """The one short question, and the quick replies that answer it."""
    names = [c["name"] for c in offered]
    if numbered:
        lines = "\n".join(f"{i}. {name}" for i, name in enumerate(names, start=1))
        return f"您要办的是哪一项？\n{lines}\n请回复序号。", [str(i) for i in range(1, len(names) + 1)]
    return f"您要办的是{'，还是'.join(f'“{n}”' for n in names)}？", names


def pick(text: str, offered: list[dict[str, str]]) -> dict[str, str] | None:
    """The offered item the answer chooses, or None when it chooses none (a new question)."""
    said = normalise(text).replace(" ", "")
    if not said or not offered:
        return None
    if match := _NUMBER.match(said):
        index = _ORDINALS[match.group(1)]
        return offered[index] if index < len(offered) else None
    if _LAST.match(said):
        return offered[-1]
    names = [normalise(c["name"]).replace(" ", "") for c in offered]
    exact = [c for c, n in zip(offered, names, strict=True) if said in n or n in said]
    if len(exact) == 1:
        return exact[0]
    # a part of a name: the part must tell the offered items apart
    scores = [fuzz.partial_ratio(said, n) if len(said) >= 2 else 0.0 for n in names]
    best = max(scores)
    if best >= 75 and scores.count(best) == 1 and len(said) <= max(len(n) for n in names) + 4:
        return offered[scores.index(best)]
    return None


def chosen(item: dict[str, str], focus: dict[str, Any]) -> dict[str, Any]:
    """The decision once the resident picked: the lookup they meant, for the aspect they asked."""
    return {
        "intent": "service_lookup",
        "focus": {"item": item, "choices": None, "aspect": focus.get("choice_aspect"),
                  "choice_aspect": None, "question": None, "task": None},
        "plan": [{"name": "service_detail", "args": {"item_code": item["code"]}}],
    }
