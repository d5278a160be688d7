"""The conversation graph: nodes and edges, named once.

    understand → call_tools → (understand …) → respond → confirm ⟲
            ↘ hand_off ↗

`confirm` interrupts the run until the resident answers; the next message resumes it.
"""

from __future__ import annotations

import functools

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from tongban.agent import nodes, run_pool
from tongban.agent.routing import (
    route_after_confirm,
    route_after_respond,
    route_after_tools,
    route_after_understand,
)
from tongban.agent.runtime import TurnRuntime
from tongban.agent.state import ConversationState


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """The graph with this agent's checkpointer: a copy of the one compiled graph (compiling
    took ~15 ms of CPU per Agent; LangGraph's own `with_config` copies the same way)."""
    run_pool.install()
    return _compiled().copy({"checkpointer": checkpointer})


@functools.cache
def _compiled() -> CompiledStateGraph:
    graph = StateGraph(ConversationState, context_schema=TurnRuntime)
    graph.add_node("understand", nodes.understand)
    graph.add_node("call_tools", nodes.call_tools)
    graph.add_node("hand_off", nodes.hand_off)
    graph.add_node("respond", nodes.respond)
    graph.add_node("confirm", nodes.confirm)
    graph.add_edge(START, "understand")
    graph.add_conditional_edges("understand", route_after_understand)
    graph.add_conditional_edges("call_tools", route_after_tools)
    graph.add_edge("hand_off", "respond")
    graph.add_conditional_edges("respond", route_after_respond)
    graph.add_conditional_edges("confirm", route_after_confirm)
    return graph.compile()


def mermaid() -> str:
    return build_graph().get_graph().draw_mermaid()
