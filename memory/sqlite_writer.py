"""SQLite's one writer, taken at a transaction's first write and handed over in order.

SQLite lets one connection write at a time. Begun IMMEDIATE, a transaction held that lock from
its first statement, so a conversation turn (milliseconds of reading and thinking, then a few
writes) kept every other writer waiting — acknowledgements, other residents' turns — and
SQLite hands its lock over by polling, with sleeps of up to 100 ms. Here a transaction starts as
a reader (under WAL readers neither wait for nor block the writer) and becomes the writer at its
first write:

- a transaction whose first statement writes begins IMMEDIATE;
- one that has read first ends its read transaction (it wrote nothing) and begins IMMEDIATE
  afresh, reopening the savepoints it was in, so a write never meets a stale snapshot
  (SQLITE_BUSY_SNAPSHOT). Reads before the first write see committed data, as under
  PostgreSQL's READ COMMITTED, which the storage code is written for: conditional updates,
  unique constraints, INSERT … ON CONFLICT;
- within the process, writers queue on one lock per database file, first come first served,
  before BEGIN IMMEDIATE, and release it when their transaction ends. SQLite's busy timeout
  still arbitrates between processes (the CLI beside the server).

One writer at a time stays a property of the database; what is gone is a turn holding it while
it thinks.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
WAIT_S = 30.0  # as long as SQLite's busy timeout (memory.db)

_IDLE, _PENDING, _READING, _WRITING = range(4)
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def writer_lock(database: str) -> threading.Lock:
    """The in-process writer lock of a database file (a private one for an in-memory database)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return threading.Lock()
    key = os.path.realpath(database)
    with _guard:
        return _locks.setdefault(key, threading.Lock())


class WriterConnection(sqlite3.Connection):
    """A connection that begins its transactions lazily and takes the writer lock at the first
    write (`sqlite3.connect(…, factory=WriterConnection)`, isolation_level None)."""

    def __init__(self, database: str | bytes | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.writer = writer_lock(os.fsdecode(database))
        self._state = _IDLE
        self._holding = False
        self._savepoints: list[str] = []

    @property
    def writing(self) -> bool:
        return self._state == _WRITING

    def begin(self) -> None:
        """A transaction begins (SQLAlchemy's `begin`): nothing is sent until its first statement."""
        self._state, self._savepoints = _PENDING, []

    def before(self, statement: str) -> None:
        """Called before each statement of the transaction (SQLAlchemy's before_cursor_execute)."""
        state = self._state
        if state in (_IDLE, _WRITING):
            return
        verb = statement.lstrip()[:9].upper()
        if verb.startswith(WRITES):
            self._become_writer()
            return
        if state == _PENDING:
            self.execute("BEGIN")  # DEFERRED: a reader until it writes
            self._state = _READING
        if verb.startswith("SAVEPOINT"):
            self._savepoints.append(statement.split()[-1])
        elif verb.startswith(("RELEASE", "ROLLBACK")) and (name := statement.split()[-1]) in self._savepoints:
            at = self._savepoints.index(name)  # RELEASE closes it; ROLLBACK TO keeps it open
            del self._savepoints[at + (0 if verb.startswith("RELEASE") else 1):]

    def _become_writer(self) -> None:
        if not self.writer.acquire(timeout=WAIT_S):
            raise sqlite3.OperationalError("database is locked (waited for this process's writer)")
        self._holding = True
        try:
            if self._state == _READING:
                self.execute("COMMIT")  # the read snapshot ends; nothing was written
            self.execute("BEGIN IMMEDIATE")
            for name in self._savepoints:
                self.execute(f"SAVEPOINT {name}")
        except BaseException:
            self._end()
            raise
        self._state, self._savepoints = _WRITING, []

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end()

    def _end(self) -> None:
        self._state, self._savepoints = _IDLE, []
        if self._holding:
            self._holding = False
            self.writer.release()
