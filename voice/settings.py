"""Voice settings from `TONGBAN_VOICE_*` variables (the same pattern as every package's settings,
replicated here because voice imports nothing else of tongban's)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_", env_file=".env", extra="ignore")

    # a FunASR model directory: SenseVoiceSmall (any language, Cantonese included) or Paraformer-zh
    voice_model_dir: Path | None = None
    # optional Paraformer-zh directory: with a SenseVoice model above, Mandarin is re-read by it
    voice_mandarin_dir: Path | None = None
    voice_vad_dir: Path | None = None  # fsmn-vad, for Paraformer on long clips
    voice_punc_dir: Path | None = None  # ct-punc, for Paraformer's unpunctuated output
    voice_device: str = "cpu"  # or cuda:0
    voice_threads: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1)
    voice_language: Literal["auto", "zh", "yue", "en", "ja", "ko"] = "auto"  # SenseVoice's hint
    voice_hotwords: list[str] = Field(default_factory=list)  # e.g. ["社保卡", "智桂通"]
    # a FunASR runtime server instead of local models, e.g. ws://asr:10095
    voice_runtime_url: str | None = None
    voice_runtime_timeout_s: float = Field(default=30.0, gt=0)
    voice_runtime_verify_ssl: bool = True
    # the worker pool: clips decoded and recognised at once, and how many may wait
    voice_workers: int = Field(default=2, ge=1, le=64)
    voice_queue: int = Field(default=16, ge=0, le=10_000)
    voice_max_seconds: float = Field(default=60.0, gt=0)  # 公众号 voice; the mini-program passes 600
    voice_pcm_rate: int = Field(default=16000, ge=8000, le=48000)  # headerless PCM uploads

    @property
    def enabled(self) -> bool:
        return bool(self.voice_model_dir or self.voice_runtime_url)

    @property
    def mode(self) -> Literal["off", "local", "runtime"]:
        if self.voice_runtime_url:
            return "runtime"
        return "local" if self.voice_model_dir else "off"


@lru_cache
def get_voice_settings() -> VoiceSettings:
    return VoiceSettings()
