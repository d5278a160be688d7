"""Each number's SMS spend per day, reserved exactly across replicas.

A send is reserved by one guarded UPDATE (`used + cost <= budget`) on the number's row for the
day: the database serialises concurrent reservations of every replica, so the budget is never
exceeded, whatever the number of replicas. A send the gateway refused gives its cost back.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from tongban.memory.db import is_postgres
from tongban.memory.models import SmsBudget


def take(session: Session, user_id: str, day: str, cost: int, budget: int) -> bool:
    """Reserve `cost` of the day's `budget`; False (nothing taken) when it does not fit."""
    dialect = postgresql if is_postgres(session.get_bind()) else sqlite  # type: ignore[arg-type]
    session.execute(dialect.insert(SmsBudget).values(user_id=user_id, day=day, used=0).on_conflict_do_nothing())
    taken = session.execute(
        update(SmsBudget)
        .where(col(SmsBudget.user_id) == user_id, col(SmsBudget.day) == day, col(SmsBudget.used) + cost <= budget)
        .values(used=col(SmsBudget.used) + cost)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def give_back(session: Session, user_id: str, day: str, cost: int) -> None:
    session.execute(
        update(SmsBudget).where(col(SmsBudget.user_id) == user_id, col(SmsBudget.day) == day)
        .values(used=col(SmsBudget.used) - cost).execution_options(synchronize_session=False)
    )


def used(session: Session, user_id: str, day: str) -> int:
    return session.exec(select(SmsBudget.used).where(SmsBudget.user_id == user_id, SmsBudget.day == day)).first() or 0
