"""LangGraph checkpointers: SQLite beside the database by default, PostgreSQL in production.

One thread per resident; the checkpoint holds the conversation state between messages,
including a confirmation the graph is waiting for.
"""

from __future__ import annotations

import datetime as dt
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


def apply_retention(saver: BaseCheckpointSaver, *, now: dt.datetime, idle_days: int) -> tuple[int, int]:
    """Keep conversation storage bounded: returns (threads pruned, threads deleted).

    Threads idle for `idle_days` are deleted; every other thread keeps only its latest
    checkpoint (with its pending writes, so a confirmation the graph waits for survives).
    """
    latest: dict[str, str] = {}
    for snapshot in saver.list(None):
        thread = snapshot.config["configurable"]["thread_id"]
        stamp = snapshot.checkpoint["ts"]
        if stamp > latest.get(thread, ""):
            latest[thread] = stamp
    cutoff = (now - dt.timedelta(days=idle_days)).astimezone(dt.UTC).isoformat()
    idle = [t for t, stamp in latest.items() if _as_utc(stamp) < cutoff]
    for thread in idle:
        saver.delete_thread(thread)
    active = [t for t in latest if t not in idle]
    if active:
        _keep_latest(saver, active)
    return len(active), len(idle)


def _keep_latest(saver: BaseCheckpointSaver, threads: list[str]) -> None:
    try:
        saver.prune(threads, strategy="keep_latest")
        return
    except NotImplementedError:  # langgraph's SqliteSaver: do the same in SQL
        pass
    connection = saver.conn  # type: ignore[attr-defined]
    for thread in threads:
        for (namespace,) in connection.execute(
            "SELECT DISTINCT checkpoint_ns FROM checkpoints WHERE thread_id = ?", (thread,)
        ).fetchall():
            (keep,) = connection.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                "ORDER BY checkpoint_id DESC LIMIT 1", (thread, namespace),
            ).fetchone()
            for table in ("writes", "checkpoints"):
                connection.execute(
                    f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id != ?",
                    (thread, namespace, keep),
                )
    connection.commit()


def _as_utc(stamp: str) -> str:
    return dt.datetime.fromisoformat(stamp).astimezone(dt.UTC).isoformat()
