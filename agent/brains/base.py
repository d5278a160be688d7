"""The interface both brains fulfil, and what they are given to decide with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from tongban.agent.brains.naming import ItemTerms
from tongban.agent.brains.slots import HallRef
from tongban.agent.commands import Command
from tongban.agent.state import ConversationState, Frame
from tongban.tools.kb.index import KnowledgeIndex
from tongban.tools.services import ServiceIndex


@dataclass
class BrainContext:
    index: ServiceIndex
    halls: list[HallRef]
    now: dt.datetime
    verified: bool  # the resident has a verified identity (实名)
    elderly: bool
    memory: dict[str, Any] = field(default_factory=dict)  # long-term: usual hall, recent items
    terms: ItemTerms = field(default_factory=ItemTerms)  # how residents name each item
    items: dict[str, str] = field(default_factory=dict)  # catalog name by item code
    knowledge: KnowledgeIndex | None = None  # the operator's FAQ sheets and policy documents
    region: frozenset[str] = frozenset()  # provinces the catalog's own departments name


class Brain(Protocol):
    name: str

    def understand(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        """A partial state update: intent, focus, and the tool calls to make."""
        ...

    def repair(self, state: ConversationState, frame: Frame, ctx: BrainContext) -> list[Command]:
        """What the message does to a suspended task, as commands (`agent.commands`); an empty
        list when it is a new request that has nothing to do with it."""
        ...

    def compose(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        """The reply for this turn from the tool results: text, quick replies, cards."""
        ...
