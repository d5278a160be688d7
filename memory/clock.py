"""The one clock: Beijing time, and the type every injectable clock has.

Business decisions (today's slots, holidays, staffed hours, WeChat's 48-hour window, retention)
read the clock they were given — the agent's, the app's — never the machine's behind their back,
so tests pin it and the suite passes on any day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # China has had no DST since 1991
WEEKDAYS = "一二三四五六日"  # 周一 … 周日, indexed by date.weekday()

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """Now, in Beijing time: the default wherever no clock is injected."""
    return dt.datetime.now(SHANGHAI)


def utc_now() -> dt.datetime:
    """Now in UTC, for record timestamps (created_at): bookkeeping, not business rules."""
    return dt.datetime.now(dt.UTC)


def local(moment: dt.datetime) -> dt.datetime:
    """A moment in Beijing time; a naive one is taken to be Beijing time already."""
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment.astimezone(SHANGHAI)
