"""Settings of the persistence layer, and the base every package's settings share."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "tongban-development-secret-do-not-use"

Environment = Literal["development", "test", "production"]
PasswordHashing = Literal["owasp", "cheapest"]


class TongbanSettings(BaseSettings):
    """Shared behaviour: `TONGBAN_*` variables, an optional `.env`, the environment name."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", env_file=".env", extra="ignore")

    env: Environment = "development"


class MemorySettings(TongbanSettings):
    """Where data lives and the secret that protects personal data at rest."""

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".tongban")
    database_url: str | None = None
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    # how many weeks of appointment slots the demo data opens ahead of today
    slot_weeks: int = Field(default=3, ge=1, le=26)
    slot_capacity: int = Field(default=4, ge=1, le=100)
    # Argon2id cost of staff passwords: "owasp" (64 MiB, 3 passes) protects a leaked database;
    # "cheapest" exists only so a test suite hashing hundreds of passwords does not spend its
    # time there. Production ignores it: `password_hashing_in_effect` is always "owasp" there.
    password_hashing: PasswordHashing = "owasp"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> MemorySettings:
        if self.env != "development" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "TONGBAN_SECRET_KEY must be set to a private value outside development "
                f"(TONGBAN_ENV={self.env})"
            )
        if len(self.secret_key.get_secret_value()) < 16:
            raise ValueError("TONGBAN_SECRET_KEY must be at least 16 characters")
        return self

    @property
    def password_hashing_in_effect(self) -> PasswordHashing:
        """What staff passwords are hashed with: never the cheap parameters in production."""
        return "owasp" if self.env == "production" else self.password_hashing

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tongban.db'}"

    def keep_scratch_files_here(self) -> Path:
        """Point the process's temporary files (and its children's: sox, ffmpeg) into the data dir.

        Libraries write caches and scratch files to the system temp dir (jieba's dictionary
        cache, decoded audio); a server must write only under its data dir, which the operator
        backs up, mounts and cleans. Called by the `tongban` commands, never by library code.
        """
        scratch = self.data_dir / "tmp"
        scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        tempfile.tempdir = str(scratch)
        os.environ["TMPDIR"] = str(scratch)
        return scratch


@lru_cache
def get_memory_settings() -> MemorySettings:
    return MemorySettings()
