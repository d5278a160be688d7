"""The handle upper layers receive: an engine plus the vault for personal data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tongban.memory import migrate
from tongban.memory.clock import system_clock
from tongban.memory.db import make_engine, session_scope
from tongban.memory.demo import load_demo
from tongban.memory.pii import Vault, vault_for
from tongban.memory.settings import MemorySettings, get_memory_settings


@dataclass
class Store:
    engine: Engine
    vault: Vault
    settings: MemorySettings

    @classmethod
    def from_settings(cls, settings: MemorySettings | None = None) -> Store:
        settings = settings or get_memory_settings()
        return cls(
            engine=make_engine(settings.url),
            vault=vault_for(settings.secret_key.get_secret_value()),
            settings=settings,
        )

    @contextmanager
    def session(self, *, actor: str = "system") -> Iterator[Session]:
        with session_scope(self.engine, actor=actor) as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """For reads only (the retrieval index checking the catalog): never blocks a turn."""
        with session_scope(self.engine, actor="system:read", readonly=True) as session:
            yield session

    def migrate(self) -> None:
        migrate.upgrade(self.engine)

    def initialise(self, *, today: dt.date | None = None) -> dict[str, int]:
        """Create or upgrade the schema, load the demo data into an empty catalog, open slots."""
        self.migrate()
        with self.session(actor="system:init") as session:
            return load_demo(
                session,
                self.vault,
                today=today or system_clock().date(),
                weeks=self.settings.slot_weeks,
                capacity=self.settings.slot_capacity,
            )

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True

    def dispose(self) -> None:
        self.engine.dispose()
