"""What the nodes of one turn work with: LangGraph's run context (`context_schema`), never checkpointed."""

from __future__ import annotations

from dataclasses import dataclass

from tongban.agent.brains.base import Brain, BrainContext
from tongban.agent.toolbox import ToolContext


@dataclass
class TurnRuntime:
    brain: Brain
    brain_ctx: BrainContext
    tools: ToolContext
    thread_id: str
    fallback: Brain | None = None  # answers when the primary brain fails (model down)
