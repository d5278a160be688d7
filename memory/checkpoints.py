"""LangGraph checkpointers: SQLite beside the database by default, PostgreSQL in production.

One thread per resident; the checkpoint holds the conversation state between messages,
including a confirmation the graph is waiting for.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import make_url

from memory.settings import MemorySettings


def make_checkpointer(settings: MemorySettings) -> BaseCheckpointSaver:
    url = make_url(settings.url)
    if url.get_backend_name() == "postgresql":
        return _postgres(url.set(drivername="postgresql").render_as_string(hide_password=False))
    if url.database in (None, "", ":memory:"):
        return sqlite_checkpointer(":memory:")
    return sqlite_checkpointer(Path(url.database).with_name("checkpoints.db"))


def sqlite_checkpointer(path: Path | str) -> BaseCheckpointSaver:
    from langgraph.checkpoint.sqlite import SqliteSaver

    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=30000")
    saver = SqliteSaver(connection)
    saver.setup()
    return saver


def _postgres(conninfo: str) -> BaseCheckpointSaver:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        conninfo, min_size=1, max_size=10, open=True,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    saver = PostgresSaver(pool)  # type: ignore[arg-type]
    saver.setup()
    return saver
