"""The gate in front of every write: nothing is booked or cancelled unconfirmed.

A write tool is called with its arguments and, separately, the `Confirmation` the
conversation produced. Only the graph's confirm step creates one, from the resident's own
answer to a question that named exactly these arguments; a model's tool call cannot carry
one. A confirmation for other arguments does not open the gate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def digest(action: str, args: dict[str, Any]) -> str:
    payload = json.dumps({"action": action, "args": args}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Confirmation:
    action: str
    digest: str

    def covers(self, action: str, args: dict[str, Any]) -> bool:
        return self.action == action and self.digest == digest(action, args)


class NeedsConfirmation(Exception):  # noqa: N818 — a state of the dialogue, not a fault
    """The write is valid but the resident has not confirmed it yet."""

    def __init__(self, action: str, args: dict[str, Any], summary: str, offered: str | None = None,
                 slot: dict[str, str] | None = None) -> None:
        super().__init__(summary)
        # not `self.args`: BaseException owns that name and turns it into a tuple
        self.action, self.call_args, self.summary = action, args, summary
        # what the resident is asked to agree to (a change: the new slot only), which an answer
        # may repeat (就后天下午那个); the summary, where it is all of it
        self.offered = summary if offered is None else offered
        # the slot offered, as fields (hall, date, period, start, end): a repair that moves it a
        # slot earlier (早啲) reads these, never the wording of `offered`
        self.slot = slot

    @property
    def digest(self) -> str:
        return digest(self.action, self.call_args)
