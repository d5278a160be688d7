"""What channels may ask of the agent: the one interface they are given.

Channels are thin (after Rasa's channels, where the core is injected as a callable): verify,
parse, call this, render. They get an object with this shape in the app (`keys.AGENT`) and
never reach into the graph, its checkpoints or its thread ids; tests may inject any object
that has it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tongban.agent.messages import Inbound, Reply


@dataclass(frozen=True)
class Said:
    """One message of a resident's recent conversation, as stored (the resident's masked)."""

    role: str  # resident | assistant | staff | system (notices: staff joined, opening hours)
    text: str
    ai_generated: bool = False
    staff_name: str | None = None  # staff messages: the name residents see (王芳)
    at: str | None = None  # ISO time


@dataclass(frozen=True)
class Upload:
    """A material a resident sent for review; the bytes are already sniffed as `content_type`."""

    channel: str
    user_id: str
    data: bytes
    content_type: str  # image/jpeg, image/png or application/pdf
    item_code: str | None = None  # the item it is for; None: the conversation's current one
    unionid: str | None = None


@dataclass(frozen=True)
class Reviewed:
    """What became of an upload: stored sealed with its review, both turns in the transcript."""

    text: str  # the reply: the item's materials one by one, or "staff will look" while they hold it
    item: str | None  # the item's name
    held: bool  # staff hold the conversation: no bot card
    card: dict[str, Any] | None  # the review card the clients render
    upload: dict[str, Any] = field(default_factory=dict)  # id, kind, kind_name, material, type, size


class UnknownItem(LookupError):
    """The upload names an item code the catalog does not have."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Unreadable(ValueError):
    """The file could not be read as a document (corrupt, encrypted, no pages); says why."""


class Assistant(Protocol):
    """The agent as channels see it."""

    clock: Callable[[], dt.datetime]  # the agent's now (Beijing time): the one business rules read

    async def respond(self, message: Inbound) -> Reply:
        """Answer one message; messages of one resident are answered in arrival order."""
        ...

    def history(self, channel: str, user_id: str) -> list[Said]:
        """The resident's recent conversation, staff messages included; empty for someone never seen."""
        ...

    def held(self, channel: str, user_id: str) -> str | None:
        """Whether staff hold the conversation now: "waiting", "claimed", or None."""
        ...

    def focus(self, resident_id: int) -> dict[str, Any]:
        """What the conversation is about now (item, hall, date, receipt number…), for staff."""
        ...

    async def review_upload(self, upload: Upload) -> Reviewed:
        """Review a material, store it sealed, judge the item's materials, record the exchange.

        Raises UnknownItem or Unreadable; nothing is stored then."""
        ...

    def refresh_index(self) -> None:
        """Rebuild the retrieval index now (after staff changed the catalog)."""
        ...
