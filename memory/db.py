"""Engines and sessions: SQLite as the embedded default, PostgreSQL in production.

A SQLite transaction is a reader until its first write and then takes the one writer's place
(`memory.sqlite_writer`), so a turn holds it only for its writes; PostgreSQL relies on row
locks. On both, correctness rests on conditional updates and the constraints in `memory.models`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from tongban.memory import audit
from tongban.memory.liveness import ping_when_idle
from tongban.memory.sqlite_writer import WAIT_S, WriterConnection


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={
            "timeout": WAIT_S, "check_same_thread": False, "factory": WriterConnection})
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20)
        ping_when_idle(engine)  # a dropped connection is never handed out, without a ping per checkout
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit is durable against a crash of the process
        # (kill -9), syncing at WAL checkpoints instead of at every commit; only a power cut or
        # OS crash can lose the last commits. FULL made every turn wait on two fsyncs.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.connection.dbapi_connection.begin()  # sent with the first statement

    @event.listens_for(engine, "before_cursor_execute")
    def _before(_connection, cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        cursor.connection.before(statement)  # a reader, or the writer at its first write


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def session_scope(engine: Engine, *, actor: str = "system", readonly: bool = False) -> Iterator[Session]:
    """A unit of work: committed on success, rolled back on error, audited as `actor`.

    A session that only reads never takes SQLite's write lock, so it can run while another
    session of the same thread (a conversation turn) holds it.
    """
    bind = engine.execution_options(readonly=True) if readonly else engine
    session = Session(bind, expire_on_commit=False)
    session.info["actor"] = actor
    audit.watch(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_new(session: Session, model: Any, values: dict[str, Any], unique: tuple[str, ...],
               returning: str | None = None) -> CursorResult[Any]:
    """INSERT … ON CONFLICT (unique) DO NOTHING, in the session's transaction: one statement that
    yields to a row already there (another replica's, a retry's) where a SELECT first and an
    INSERT after take two and still race. `rowcount`, or the `returning` column, tells who
    inserted. The statement is built once per table and database: messages pass here at rate."""
    connection = session.connection()
    key = (connection.dialect.name, model.__tablename__, unique, returning)
    statement = _INSERTS.get(key)
    if statement is None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        table = model.__table__
        statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))
        if returning is not None:
            statement = statement.returning(table.c[returning])
        _INSERTS[key] = statement
    # rowcount of an INSERT is kept only when asked (SQLAlchemy 2): PostgreSQL said -1 without
    # it, and every admitted nonce cost a second round trip to read back what it had inserted
    return connection.execute(statement, values, execution_options={"preserve_rowcount": True})


_INSERTS: dict[tuple[str, str, tuple[str, ...], str | None], Any] = {}
