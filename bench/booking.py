"""Bookings per second on SQLite and PostgreSQL, 20 concurrent workers.

    python bench/booking.py [--postgres postgresql://127.0.0.1:5432/test] [--attempts 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from tongban.memory.booking import BookingError, book
from tongban.memory.db import make_engine
from tongban.memory.models import Resident, ServiceItem, Slot
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def measure(store: Store, attempts: int, workers: int) -> tuple[float, int, int]:
    store.initialise(today=NOW.date())
    with store.session() as session:
        slot_ids = list(session.exec(select(Slot.id).where(col(Slot.date) > NOW.date())))
        item_ids = list(session.exec(select(ServiceItem.id)))
        residents = [Resident(web_id=f"bench-{uuid.uuid4().hex[:8]}") for _ in range(attempts)]
        session.add_all(residents)
        session.flush()
        resident_ids = [r.id for r in residents]

    def one(n: int) -> bool:
        try:
            with store.session() as session:
                book(session, resident_id=resident_ids[n], item_id=item_ids[n % len(item_ids)],
                     slot_id=slot_ids[(n * 7919) % len(slot_ids)], now=NOW, idempotency_key=f"b-{n}")
            return True
        except BookingError:
            return False

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(one, range(attempts)))
    elapsed = time.perf_counter() - start
    return attempts / elapsed, sum(outcomes), attempts - sum(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    secret = "bench-secret-key-0123456789"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_settings(MemorySettings(env="test", data_dir=Path(tmp), secret_key=secret))
        rate, ok, refused = measure(store, args.attempts, args.workers)
        print(f"sqlite      {rate:8.1f} booking attempts/s  ({ok} booked, {refused} refused)")
        store.dispose()
    name = f"tongban_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.postgres).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here
        print(f"postgresql  skipped: {exc.__class__.__name__}")
        return
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    try:
        store = Store.from_settings(MemorySettings(env="test", database_url=url, secret_key=secret))
        rate, ok, refused = measure(store, args.attempts, args.workers)
        print(f"postgresql  {rate:8.1f} booking attempts/s  ({ok} booked, {refused} refused)")
        store.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
