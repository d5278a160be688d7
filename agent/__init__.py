"""The conversation: a LangGraph state machine with an offline brain and an LLM brain."""
