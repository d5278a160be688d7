"""The SMS daily budget is exact however many replicas reserve at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tongban.memory import sms_budget
from tongban.memory.store import Store


def test_concurrent_reservations_never_pass_the_budget(any_store: Store) -> None:
    def reserve(_: int) -> bool:
        with any_store.session(actor="channel:sms") as session:
            return sms_budget.take(session, "number-key", "2026-11-24", 2, 21)

    with ThreadPoolExecutor(8) as pool:  # as many sessions as replicas' SMS pools
        taken = list(pool.map(reserve, range(40)))
    assert sum(taken) == 10, "ten sends of 2 segments fit in 21; the eleventh would make 22"
    with any_store.session() as session:
        assert sms_budget.used(session, "number-key", "2026-11-24") == 20
        assert sms_budget.take(session, "number-key", "2026-11-25", 2, 21), "a new day, a new budget"
        assert sms_budget.take(session, "other-number", "2026-11-24", 21, 21), "each number its own"
        sms_budget.give_back(session, "number-key", "2026-11-24", 2)  # the gateway refused one
        assert sms_budget.used(session, "number-key", "2026-11-24") == 18
