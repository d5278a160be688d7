"""The interface both brains fulfil, and what they are given to decide with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from tongban.agent.brains.naming import ItemTerms
from tongban.agent.brains.slots import HallRef
from tongban.agent.state import ConversationState
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
    knowledge: KnowledgeIndex | None = None  # the operator's FAQ sheets and policy documents


class Brain(Protocol):
    name: str

    def understand(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        """A partial state update: intent, focus, and the tool calls to make."""
        ...

    def compose(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        """The reply for this turn from the tool results: text, quick replies, cards."""
        ...
