"""Chat models from configuration: a private OpenAI-compatible server or a Chinese provider."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from tongban.agent.settings import AgentSettings, get_agent_settings


def chat_model_from_settings(settings: AgentSettings | None = None) -> BaseChatModel:
    settings = settings or get_agent_settings()
    if settings.llm_provider == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("the LLM brain needs langchain-openai: pip install 'tongban[llm]'") from exc
        if not settings.llm_base_url:
            raise RuntimeError("set TONGBAN_LLM_BASE_URL to your model server (e.g. http://vllm:8000/v1)")
        return ChatOpenAI(
            base_url=settings.llm_base_url, model=settings.llm_model, temperature=0.1,
            api_key=settings.llm_api_key.get_secret_value(), timeout=settings.llm_timeout_s, max_retries=1,
        )
    if settings.llm_provider == "llamacpp":
        return llamacpp_model(settings.llm_model_path)
    from langchain_community import chat_models

    provider = {
        "tongyi": chat_models.ChatTongyi,
        "qianfan": chat_models.QianfanChatEndpoint,
        "sparkllm": chat_models.ChatSparkLLM,
        "zhipuai": chat_models.ChatZhipuAI,
    }[settings.llm_provider]
    return provider(model=settings.llm_model)  # credentials from the provider's own variables


def llamacpp_model(path: str | None, *, n_ctx: int = 4096, max_tokens: int = 256) -> BaseChatModel:
    """A GGUF model in-process (llama-cpp-python, installed separately): for trying tongban's
    LLM path on a laptop. Small models only follow a tool when it is forced (see bench/llm.py)."""
    if not path:
        raise RuntimeError("set TONGBAN_LLM_MODEL_PATH to a local .gguf file")
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the llamacpp provider needs `pip install llama-cpp-python`") from exc
    return ChatLlamaCpp(
        model_path=path, n_ctx=n_ctx, max_tokens=max_tokens, temperature=0.1,
        chat_format="chatml-function-calling", verbose=False,
    )
