"""Which days halls open: China's statutory holidays and make-up working days (调休).

`chinese_calendar` carries the State Council's published arrangement year by year; for a
year it does not know yet we fall back to the `holidays` package's computed Chinese
holidays (no make-up days are known then), and log that the calendar needs updating.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache

import chinese_calendar
import holidays

log = logging.getLogger(__name__)

_HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


@dataclass(frozen=True)
class DayStatus:
    date: dt.date
    open: bool
    reason: str  # 工作日 / 调休上班 / 周末 / 国庆节 …


def day_status(day: dt.date) -> DayStatus:
    try:
        workday = chinese_calendar.is_workday(day)
        _, holiday = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return _fallback(day)
    weekend = day.weekday() >= 5
    if workday:
        return DayStatus(day, True, "调休上班" if weekend else "工作日")
    if holiday is not None:
        return DayStatus(day, False, _HOLIDAY_NAMES.get(str(holiday), str(holiday)))
    return DayStatus(day, False, "周末")


def is_open(day: dt.date) -> bool:
    return day_status(day).open


@lru_cache(maxsize=16)
def _fallback_holidays(year: int) -> holidays.HolidayBase:
    log.warning(
        "chinese_calendar has no arrangement for %s; using computed holidays without 调休. "
        "Upgrade chinese-calendar when the State Council publishes it.",
        year,
    )
    return holidays.country_holidays("CN", years=[year], language="zh_CN")


def _fallback(day: dt.date) -> DayStatus:
    name = _fallback_holidays(day.year).get(day)
    if name:
        return DayStatus(day, False, str(name).split(";")[0])
    if day.weekday() >= 5:
        return DayStatus(day, False, "周末")
    return DayStatus(day, True, "工作日")


def next_open_days(start: dt.date, count: int, *, limit_days: int = 60) -> list[dt.date]:
    days: list[dt.date] = []
    day = start
    while len(days) < count and (day - start).days <= limit_days:
        if is_open(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days
