"""The model's small, bounded part in finding an item: pick one of retrieval's candidates, or none.

Retrieval finds the candidates; when it cannot tell the first ones apart, a model reads the
question and the two or three official names and answers with one number. Even a small model
does this well, and it cannot invent an item: anything but a listed number (or 0, none of them)
is ignored and the resident is asked instead (agent/brains/clarify.py).
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from tongban.memory.pii import mask_text

SYSTEM = (
    "你是政务服务事项分类员。根据居民的问题，从候选事项中选出居民要办的那一项。"
    "只回答一个数字：候选事项的序号；如果都不是，回答 0。不要解释。"
)
_NUMBER = re.compile(r"\d+")


class Unanswered(ValueError):
    """The model's answer is not one of the numbers offered."""


def prompt(question: str, candidates: list[dict[str, str]]) -> list[Any]:
    lines = "\n".join(f"{i}. {c['name']}" for i, c in enumerate(candidates, start=1))
    return [
        SystemMessage(SYSTEM),
        HumanMessage(f"居民的问题：{mask_text(question)}\n候选事项：\n{lines}\n0. 都不是\n请回答序号："),
    ]


def pick(model: BaseChatModel, question: str, candidates: list[dict[str, str]]) -> dict[str, str] | None:
    """The candidate the model picks; None when it says none fits. Raises `Unanswered`."""
    message = model.invoke(prompt(question, candidates))
    content = message.content if isinstance(message.content, str) else ""
    found = _NUMBER.search(content)
    if found is None or getattr(message, "tool_calls", None):
        raise Unanswered(f"not a number: {content[:40]!r}")
    number = int(found.group())
    if number == 0:
        return None
    if not 1 <= number <= len(candidates):
        raise Unanswered(f"no candidate {number}")
    return candidates[number - 1]
