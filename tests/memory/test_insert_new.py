"""`insert_new` tells in one statement whether it inserted: the nonce book and the inbound table
decide "first time or already seen" from it, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from tongban.channels.wechat.nonces import NonceBook
from tongban.memory.db import insert_new
from tongban.memory.models import SeenNonce
from tongban.memory.store import Store

NOW = 1_796_000_000.0
EXPIRES = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_the_row_count_says_whether_the_row_was_new(any_store: Store) -> None:
    with any_store.session() as session:
        first = insert_new(session, SeenNonce, {"key": "k1", "digest": "d", "expires_at": EXPIRES}, ("key",))
        again = insert_new(session, SeenNonce, {"key": "k1", "digest": "e", "expires_at": EXPIRES}, ("key",))
        assert (first.rowcount, again.rowcount) == (1, 0)


def test_admitting_a_fresh_signed_url_is_one_round_trip(any_store: Store) -> None:
    """The insert alone decides a new nonce; reading the row back is only for one seen before."""
    book = NonceBook(any_store, window_s=300, purge_every_s=float("inf"))
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(any_store.engine, "before_cursor_execute", seen)
    try:
        with any_store.session() as session:
            book._purged_at = NOW  # the sweep of stale entries is not this test's subject
            assert book.admit("oa", str(int(NOW)), "n1", b"<xml>hi</xml>", NOW, session=session) is True
            new = len(statements)
            assert book.admit("oa", str(int(NOW)), "n1", b"<xml>hi</xml>", NOW, session=session) is True
            assert book.admit("oa", str(int(NOW)), "n1", b"<xml>other</xml>", NOW, session=session) is False
    finally:
        event.remove(any_store.engine, "before_cursor_execute", seen)
    assert new == 1, statements
