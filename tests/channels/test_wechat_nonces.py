"""The nonce book in Redis: replicas sharing one Redis refuse a signed URL carrying another body,
admit WeChat's own retry, and forget an entry once its window has passed (by the book's clock)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import func, select

from tongban.channels.wechat.nonces import PREFIX, NonceBook
from tongban.memory.models import SeenNonce
from tongban.memory.store import Store

REDIS_URL = "redis://127.0.0.1:6379/15"
WINDOW_S = 300
NOW = 1_796_000_000.0  # any instant: the book is told the time, Redis's own clock only clears up


@pytest.fixture
def redis_client() -> Iterator[object]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def replicas(store: Store, redis_client: object) -> tuple[NonceBook, NonceBook]:
    books = NonceBook(store, window_s=WINDOW_S, redis_url=REDIS_URL), NonceBook(store, window_s=WINDOW_S, redis_url=REDIS_URL)
    assert [book.where for book in books] == ["redis", "redis"]
    return books


def signed_url() -> tuple[str, str, str]:
    """(channel, timestamp, nonce) of a fresh signed URL: a channel of its own in the shared Redis."""
    return f"oa-{uuid.uuid4().hex}", str(int(NOW)), uuid.uuid4().hex[:10]


def seen_in_database(store: Store) -> int:
    with store.session() as session:
        return int(session.exec(select(func.count()).select_from(SeenNonce)).one())


def test_a_signed_url_with_another_body_is_refused_by_the_other_replica(replicas, store: Store) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas
    url = signed_url()
    assert one.admit(*url, b"<xml>hello</xml>", NOW) is True
    assert two.admit(*url, b"<xml>cancel my booking</xml>", NOW + 5) is False, "the replay, on another replica"
    assert two.admit(*url, b"<xml>hello</xml>", NOW + 5) is True, "WeChat's own retry: same URL, same body"
    assert one.admit(*url, b"<xml>cancel my booking</xml>", NOW + 6) is False
    assert seen_in_database(store) == 0, "Redis kept the book, not the database"


def test_an_entry_lapses_after_its_window_and_redis_clears_it_away(replicas, redis_client) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas
    url = signed_url()
    body = f"<xml>hello {url[0]}</xml>".encode()  # its own digest: other tests (and workers) write entries too
    before = set(redis_client.scan_iter(PREFIX + "*"))
    assert one.admit(*url, body, NOW) is True
    digest = hashlib.sha256(body).hexdigest().encode()
    [key] = [k for k in set(redis_client.scan_iter(PREFIX + "*")) - before if (redis_client.get(k) or b"").startswith(digest)]
    assert 0 < redis_client.ttl(key) <= WINDOW_S + 60, "Redis forgets it on its own"
    assert two.admit(*url, b"<xml>other</xml>", NOW + WINDOW_S + 59) is False, "still within the window"
    assert two.admit(*url, b"<xml>other</xml>", NOW + WINDOW_S + 61) is True, "lapsed: a stale URL is the webhook's to refuse"
    assert one.admit(*url, body, NOW + WINDOW_S + 62) is False, "the new entry holds now"
    redis_client.delete(key)
