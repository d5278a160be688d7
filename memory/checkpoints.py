"""LangGraph checkpointers: SQLite beside the database by default, PostgreSQL in production.

One thread per resident; the checkpoint holds the conversation state between messages,
including a confirmation the graph is waiting for.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from sqlalchemy.engine import make_url

from tongban.memory import models
from tongban.memory.liveness import idle_check
from tongban.memory.settings import MemorySettings

_NONE = object()  # read this turn, and the thread had no checkpoint yet
INTERRUPT = "__interrupt__"  # the channel of LangGraph's interrupt writes (private in langgraph 1.x)


def checkpoint_types() -> tuple[tuple[str, str], ...]:
    """The project's own types a checkpoint may hold: the enums of `memory.models` (a tool
    result carries a booking's or a handoff's status as the enum the row holds)."""
    return tuple(sorted(
        (kind.__module__, kind.__name__) for kind in vars(models).values()
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and kind.__module__ == models.__name__
    ))


def serializer() -> JsonPlusSerializer:
    """Strict: checkpoints revive LangGraph's safe types and the types registered above, and
    nothing else (LangGraph only warns about unregistered types today, and will block them)."""
    return JsonPlusSerializer(allowed_msgpack_modules=checkpoint_types())


def make_checkpointer(settings: MemorySettings) -> BaseCheckpointSaver:
    url = make_url(settings.url)
    if url.get_backend_name() == "postgresql":
        return _postgres(url.set(drivername="postgresql").render_as_string(hide_password=False))
    if url.database in (None, "", ":memory:"):
        return sqlite_checkpointer(":memory:")
    return sqlite_checkpointer(Path(url.database).with_name("checkpoints.db"))


class AfterCommit(BaseCheckpointSaver):  # type: ignore[type-arg]
    """Holds a turn's checkpoint writes until the turn's database transaction has committed.

    The checkpoint lives apart from the database (another SQLite file, other connections), so
    the two cannot commit together. Written first, a crash or a failed commit in between would
    leave the conversation past a confirmation whose booking never happened. Written after, a
    crash in between leaves the confirmation pending, and answering it again replays the same
    idempotency key: the booking that did commit comes back, no second one is made.

        with saver.turn():             # around the database transaction
            saver.hold(thread_id)      # this thread's writes wait ...
            graph.invoke(...)          # ... until the transaction commits; dropped if it fails
    """

    _local = threading.local()

    def __init__(self, inner: BaseCheckpointSaver) -> None:  # type: ignore[type-arg]
        super().__init__(serde=inner.serde)
        self.inner = inner
        self._held: dict[str, list[Callable[[], Any]]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        self._local.threads = []
        self._local.read = {}
        try:
            yield
        except BaseException:
            for thread in self._local.threads:
                self._take(thread)
            raise
        finally:
            self._local.read = {}
        for thread in self._local.threads:
            for write in self._take(thread):
                write()

    def interrupted(self, config: dict[str, Any]) -> bool:
        """Whether the thread's latest checkpoint waits on an interrupt (a confirmation).

        Cheaper than `graph.get_state`: the checkpoint read here is kept for the run that
        follows in the same turn, so a turn deserialises its checkpoint once.
        """
        saved = self.get_tuple(config)
        thread = str(config["configurable"]["thread_id"])
        if getattr(self._local, "read", None) is not None:
            self._local.read[thread] = saved if saved is not None else _NONE  # a first message: none yet
        if saved is None:
            return False
        return any(write[1] == INTERRUPT for write in saved.pending_writes or ())

    def hold(self, thread_id: str) -> None:
        with self._guard:
            self._held[thread_id] = []
        self._local.threads.append(thread_id)

    def _take(self, thread_id: str) -> list[Callable[[], Any]]:
        with self._guard:
            return self._held.pop(thread_id, [])

    def _held_or_run(self, config: dict[str, Any], write: Callable[[], Any]) -> bool:
        with self._guard:
            held = self._held.get(str(config["configurable"]["thread_id"]))
            if held is not None:
                held.append(write)
                return True
        return False

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        write = functools.partial(self.inner.put, config, checkpoint, metadata, new_versions)
        if not self._held_or_run(config, write):
            return write()
        conf = config["configurable"]
        return {"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": conf.get("checkpoint_ns", ""),
                                 "checkpoint_id": checkpoint["id"]}}

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        write = functools.partial(self.inner.put_writes, config, writes, task_id, task_path)
        if not self._held_or_run(config, write):
            write()

    def get_tuple(self, config: Any) -> Any:
        conf = config["configurable"]
        read = getattr(self._local, "read", None)
        if read and not conf.get("checkpoint_id") and not conf.get("checkpoint_ns"):
            saved = read.pop(str(conf["thread_id"]), None)  # served once: the run may change it in place
            if saved is _NONE:
                return None
            if saved is not None:
                return saved
        return self.inner.get_tuple(config)

    def list(self, config: Any, **kwargs: Any) -> Any:
        return self.inner.list(config, **kwargs)

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.inner.get_next_version(current, channel)

    def get_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.get_delta_channel_history(*args, **kwargs)

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    def prune(self, *args: Any, **kwargs: Any) -> None:
        self.inner.prune(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # the inner saver's own parts (conn, setup)
        return getattr(self.__dict__["inner"], name)


def sqlite_checkpointer(path: Path | str) -> BaseCheckpointSaver:
    from langgraph.checkpoint.sqlite import SqliteSaver

    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # as the database (memory.db): safe against a process crash
    connection.execute("PRAGMA busy_timeout=30000")
    saver = SqliteSaver(connection, serde=serializer())
    saver.setup()
    return saver


def _postgres(conninfo: str) -> BaseCheckpointSaver:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    check, reset = idle_check()
    pool = ConnectionPool(
        conninfo, min_size=1, max_size=10, open=True,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        # a connection the database dropped (restart, failover) is replaced, not handed out;
        # pinged only after sitting idle (memory.liveness)
        check=check, reset=reset,
    )
    saver = PostgresSaver(pool, serde=serializer())  # type: ignore[arg-type]
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
