"""SQLite's one writer: taken at a transaction's first write, handed over in order, never lost.

A transaction that has only read holds nothing another writer waits for; one that writes after
reading starts afresh as the writer, so it never fails on a stale snapshot; savepoints it was in
still roll back what they held.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlmodel import func, select

from tongban.memory.models import SeenNonce
from tongban.memory.sqlite_writer import WriterConnection
from tongban.memory.store import Store


def _count(store: Store) -> int:
    with store.read_session() as session:
        return int(session.exec(select(func.count()).select_from(SeenNonce)).one())


def _note(session, key: str) -> None:  # type: ignore[no-untyped-def]
    session.execute(text("INSERT INTO seen_nonce (key, digest, expires_at) VALUES (:k, 'd', '2099-01-01')"), {"k": key})


def test_a_transaction_that_has_only_read_keeps_no_writer_waiting(store: Store) -> None:
    read, written = threading.Event(), threading.Event()

    def other_writer() -> None:
        read.wait(5)
        with store.session() as session:
            _note(session, "other")
        written.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    with store.session() as session:
        assert _count(store) == 0
        session.execute(select(SeenNonce)).all()  # this transaction has read
        read.set()
        assert written.wait(5), "the other writer committed while this transaction was open"
        _note(session, "mine")  # and this one still writes: no stale snapshot, no 'database is locked'
        assert session.execute(select(func.count()).select_from(SeenNonce)).scalar() == 2
    thread.join()
    assert _count(store) == 2


def test_concurrent_writers_all_commit_one_at_a_time(store: Store) -> None:
    def work(worker: int) -> None:
        for n in range(25):
            with store.session() as session:
                session.execute(select(SeenNonce)).first()  # read first, as a turn does
                _note(session, f"{worker}-{n}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert _count(store) == 200


def test_a_savepoint_opened_while_reading_still_rolls_back_its_writes(store: Store) -> None:
    with store.session() as session:
        session.execute(select(SeenNonce)).all()
        try:
            with session.begin_nested():  # opened while the transaction only reads
                session.execute(select(SeenNonce)).all()
                _note(session, "undone")  # the first write: the writer's transaction reopens the savepoint
                raise ValueError
        except ValueError:
            pass
        _note(session, "kept")
    with store.read_session() as session:
        assert [n.key for n in session.exec(select(SeenNonce))] == ["kept"]


def test_the_writer_is_released_when_a_transaction_fails(store: Store) -> None:
    try:
        with store.session() as session:
            _note(session, "twice")
            _note(session, "twice")  # a unique key: the transaction fails
    except Exception:
        pass
    connection = store.engine.raw_connection().dbapi_connection
    assert isinstance(connection, WriterConnection)
    assert connection.writer.acquire(timeout=1), "nothing holds the writer"
    connection.writer.release()
    with store.session() as session:
        _note(session, "after")
    assert _count(store) == 1
