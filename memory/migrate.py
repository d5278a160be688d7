"""Schema migrations with Alembic, driven from code so `tongban init` needs no alembic.ini.

A database already at the newest migration (every start but the first) is recognised
without Alembic: its `alembic_version` row is compared with the newest revision named in
the migration files. Alembic, with Mako and Pygments behind it (~15 MB of resident memory
and a few tenths of a second), loads only when there is something to migrate.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        if revision == "head" and _at_newest(connection):
            return  # what Alembic would find: nothing to do
        from alembic import command

        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def is_current(engine: Engine) -> bool:
    """Whether the database schema is at the newest migration."""
    with engine.connect() as connection:
        if _at_newest(connection):
            return True
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def _at_newest(connection: Connection) -> bool:
    """The database records exactly the newest revision (False whenever unsure: Alembic decides)."""
    newest = newest_revision()
    if newest is None or not inspect(connection).has_table("alembic_version"):
        return False
    recorded = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    return recorded == [newest]


@lru_cache(maxsize=1)
def newest_revision() -> str | None:
    """The one revision no migration names as its predecessor; None unless the files form a
    single chain of plain string revisions (then only Alembic can say)."""
    revisions: set[str] = set()
    predecessors: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        revision, previous = found.get("revision", ""), found.get("down_revision", "")
        if not re.fullmatch(r"'[^']+'|\"[^\"]+\"", revision) or not re.fullmatch(r"None|'[^']+'|\"[^\"]+\"", previous):
            return None  # a branch, a merge or a computed value
        revisions.add(revision[1:-1])
        if previous != "None":
            predecessors.add(previous[1:-1])
    heads = revisions - predecessors
    return heads.pop() if len(heads) == 1 and predecessors <= revisions else None
