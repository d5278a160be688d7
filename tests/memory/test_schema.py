"""Migrations and models agree; init is idempotent; settings refuse default secrets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, func, select

from tongban.memory import migrate
from tongban.memory.models import Hall, ServiceItem, Slot
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store


def test_migrations_match_the_models(any_store: Store) -> None:
    with any_store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_init_is_idempotent(store: Store) -> None:
    def counts() -> tuple[int, int, int]:
        with store.session() as session:
            return tuple(session.exec(select(func.count()).select_from(t)).one() for t in (ServiceItem, Hall, Slot))

    first = counts()
    store.initialise(today=dt.date(2026, 11, 24))
    assert counts() == first
    assert first[0] >= 47 and first[1] == 8


def test_an_older_schema_is_upgraded_and_the_newest_recognised_as_alembic_says(tmp_path: Path) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    store = Store.from_settings(MemorySettings(env="test", data_dir=tmp_path, secret_key="test-secret-key-0123456789"))
    config = migrate.alembic_config(store.engine)
    assert [migrate.newest_revision()] == ScriptDirectory.from_config(config).get_heads()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    assert not migrate.is_current(store.engine)
    store.migrate()  # from 0008 to the newest: Alembic runs, not the shortcut
    assert migrate.is_current(store.engine)
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == (migrate.newest_revision(),)
    store.dispose()


def test_default_secret_refused_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TONGBAN_SECRET_KEY"):
        MemorySettings(env="production", data_dir=tmp_path)
    assert MemorySettings(env="development", data_dir=tmp_path).url.startswith("sqlite:///")


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TONGBAN_ENV", "production")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", "a-real-production-secret")
    monkeypatch.setenv("TONGBAN_DATABASE_URL", "postgresql://db/tongban")
    settings = MemorySettings()
    assert settings.env == "production" and settings.url == "postgresql://db/tongban"
