"""Prometheus metrics the agent records; the server exposes the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TURNS = Counter("tongban_turns_total", "Conversation turns", ["channel", "intent"])
TURN_SECONDS = Histogram(
    "tongban_turn_seconds", "Time to answer one message", buckets=(0.01, 0.03, 0.1, 0.3, 1, 3, 10)
)
LLM_FALLBACKS = Counter("tongban_llm_fallbacks_total", "Turns the offline brain answered because the model failed", ["reason"])
HANDOFFS = Counter("tongban_handoffs_total", "Conversations handed to staff", ["channel"])
