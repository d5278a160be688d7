"""The numbered menu: one digit is all an old phone needs to type.

`回复1查进度 2预约 3咨询 0人工` fits one SMS with the signature. A digit stands for what the
resident would have typed; while a confirmation question is open, 1 and 2 answer it instead
(the question's own template says so). After "which item to book?", the answer is sent as a
booking request, so `换身份证` continues the booking rather than starting a lookup.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MENU: dict[str, str] = {"1": "查询办件进度", "2": "预约办理", "0": "转人工"}
CONSULT = "3"  # answered by the channel itself: "tell me what you need"
CONFIRMING: dict[str, dict[str, str]] = {  # last template → digit → answer
    "book_confirm": {"1": "确认", "2": "取消"},
    "cancel_confirm": {"1": "确认", "2": "不用"},
}


@dataclass(frozen=True)
class Turn:
    """What to do with one SMS: ask the agent `text`, or answer with `template` directly."""

    text: str | None = None
    template: str | None = None


def interpret(raw: str, *, last_template: str | None) -> Turn:
    text = unicodedata.normalize("NFKC", raw).strip().rstrip("。.，,！!")
    if not text:
        return Turn(template="menu")
    if text in CONFIRMING.get(last_template or "", {}):
        return Turn(text=CONFIRMING[last_template or ""][text])
    if text == CONSULT:
        return Turn(template="consult")
    if text in MENU:
        return Turn(text=MENU[text])
    if last_template == "book_item" and "预约" not in text:
        return Turn(text=f"预约{text}")
    return Turn(text=raw.strip())
