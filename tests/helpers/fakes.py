"""Scripted stand-ins for what cannot run here: a chat model that says what the test scripts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

Step = AIMessage | Exception | Callable[[list[BaseMessage]], AIMessage]


def call(name: str, **args: Any) -> AIMessage:
    """A model turn that asks for one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{name}-{len(args)}"}])


def say(text: str) -> AIMessage:
    return AIMessage(text)


class ScriptedChatModel(BaseChatModel):
    """Replies from a script, one step per model call, and records every prompt it saw."""

    script: list[Any] = Field(default_factory=list)
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    tools: list[Any] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **_: Any) -> ScriptedChatModel:  # type: ignore[override]
        self.tools = list(tools)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **_: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        if not self.script:
            raise RuntimeError("the scripted model has nothing more to say")
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        message = step(messages) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=message)])

    def seen(self) -> str:
        return "\n".join(str(m.content) for prompt in self.prompts for m in prompt)
