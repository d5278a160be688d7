"""Settings of the conversation: which brain, and the model server when there is one."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr

from tongban.memory.settings import TongbanSettings


class AgentSettings(TongbanSettings):
    brain: Literal["offline", "llm"] = "offline"
    # an OpenAI-compatible endpoint (vLLM, Xinference, Ollama) serving a Qwen-class model
    llm_base_url: str | None = None
    llm_model: str = "qwen2.5-7b-instruct"
    llm_api_key: SecretStr = SecretStr("EMPTY")
    llm_timeout_s: float = Field(default=20.0, gt=0)
    # or a Chinese provider from langchain-community: tongyi, qianfan, sparkllm, zhipuai
    llm_provider: Literal["openai", "tongyi", "qianfan", "sparkllm", "zhipuai", "llamacpp"] = "openai"
    # llamacpp: a local GGUF file run in-process by llama-cpp-python (trials, not production)
    llm_model_path: str | None = None
    # speech: read a transcript back (您是说“…”吗？) below this confidence, or in these languages
    voice_confirm_below: float = Field(default=0.6, ge=0, le=1)
    voice_confirm_languages: list[str] = Field(default_factory=lambda: ["yue"])


@lru_cache
def get_agent_settings() -> AgentSettings:
    return AgentSettings()
