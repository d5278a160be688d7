"""Slot extraction for the offline brain: dates, halls, phones, ID digits and yes/no answers.

Residents type colloquial Chinese, sometimes Cantonese-flavoured, traditional or full-width,
and speech recognition adds homophones and spoken digits. Every extractor therefore starts
from `normalise` and leans on maintained libraries: jionlp resolves Chinese time
expressions, python-stdnum/phonenumbers (through `memory.pii`) validate identifiers,
pypinyin and rapidfuzz find halls that were misheard. Everything here is a pure function.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz import fuzz

from tongban.memory.clock import SHANGHAI
from tongban.memory.pii import InvalidIdentifier, normalise_id_number, normalise_phone
from tongban.tools.language import cue, knowledge
from tongban.tools.text import canonical as normalise
from tongban.tools.text import sound_key

with contextlib.redirect_stdout(io.StringIO()):  # jionlp prints a banner on import
    import jionlp as jio

log = logging.getLogger(__name__)


Period = Literal["上午", "下午"]
Answer = Literal["yes", "no", "other"]

# ── normalisation ────────────────────────────────────────────────────────────────────────

_SPOKEN_DIGITS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
_SPOKEN_RUN = re.compile(r"[零〇一二三四五六七八九幺两\d]{3,}")


def _digits_text(text: str) -> str:
    """Normalised, upper-cased, with spoken digit runs (幺三八…) turned into digits."""
    text = normalise(text).upper()
    return _SPOKEN_RUN.sub(lambda m: m.group().translate(_SPOKEN_DIGITS), text)


# ── identifiers ──────────────────────────────────────────────────────────────────────────

_RECEIPT = re.compile(r"(?<![A-Z0-9])G\s*X[\s-]*((?:\d[\s-]*){13}\d)(?!\d)")
_ID_SHAPED = re.compile(r"(?<![A-Z0-9])[1-9](?:[\s-]?\d){16}[\s-]?[\dX](?![A-Z0-9])")
_NUMBER_RUN = re.compile(r"\+?\d+(?:[ -]+\d+)*")
_SEPARATORS = re.compile(r"[\s-]")


def extract_receipt_no(text: str) -> str | None:
    """A receipt number (受理编号): GX + 14 digits, however it was typed or spoken."""
    match = _RECEIPT.search(_digits_text(text))
    return "GX" + _SEPARATORS.sub("", match.group(1)) if match else None


def extract_id_number(text: str) -> str | None:
    """The first checksum-valid 18-character resident ID number in the text."""
    for match in _ID_SHAPED.finditer(_digits_text(text)):
        try:
            return normalise_id_number(_SEPARATORS.sub("", match.group()))
        except InvalidIdentifier:
            continue
    return None


def extract_phone(text: str) -> str | None:
    """A valid mainland mobile number (11 digits), never a slice of an ID or receipt number.

    Receipt and ID-shaped numbers are blanked out first; the rest is split into digit
    groups (138 1234 5678, +86-138…) and only whole groups are joined into a candidate.
    """
    cleaned = _ID_SHAPED.sub(" # ", _RECEIPT.sub(" # ", _digits_text(text)))
    for run in _NUMBER_RUN.finditer(cleaned):
        for candidate in _phone_candidates(re.split(r"[ -]+", run.group().lstrip("+"))):
            try:
                return normalise_phone(candidate)
            except InvalidIdentifier:
                continue
    return None


def _phone_candidates(groups: list[str]) -> Iterator[str]:
    """Concatenations of consecutive whole digit groups that have a mobile number's shape."""
    for start in range(len(groups)):
        joined = ""
        for group in groups[start:]:
            joined += group
            if len(joined) == 11 and joined.startswith("1"):
                yield joined
            elif len(joined) == 13 and joined.startswith("861"):
                yield joined[2:]
            elif len(joined) > 13:
                break


_LAST4_PHRASE = re.compile(
    r"(?:最后|后|末|尾)\s*(?:四|4)\s*位(?:数字|号码|数|号)?\s*(?:是|为|:)?\s*(\d{3}[\dX])(?![\dX])"
)
_TAIL_PHRASE = re.compile(r"尾(?:号|数)\s*(?:是|为|:)?\s*(\d{3}[\dX])(?![\dX])")
_BARE_LAST4 = re.compile(r"(?<![\dX])(\d{3}[\dX])(?![\dX])")


def extract_id_last4(text: str, *, asked: bool = False) -> str | None:
    """The last four characters of the resident's ID number, when they say that is what it is.

    "后四位" counts unless it is about a phone; "尾号" is common for phones too, so it needs
    an ID word before it. With `asked` (the agent just asked for the last four) a bare
    four-character answer counts. A full valid ID number also yields its last four.
    """
    cleaned = _digits_text(text)
    if full := extract_id_number(cleaned):
        return full[-4:]
    for match in _LAST4_PHRASE.finditer(cleaned):
        if _nearest_context(cleaned[: match.start()]) != "phone":
            return match.group(1)
    for match in _TAIL_PHRASE.finditer(cleaned):
        context = _nearest_context(cleaned[: match.start()])
        if context == "id" or (asked and context is None):
            return match.group(1)
    if asked and not cue("phone_words").search(cleaned) and not re.search(r"\d{5}", cleaned):
        bare = _BARE_LAST4.findall(cleaned)
        if len(bare) == 1:
            return bare[0]
    return None


def _nearest_context(before: str) -> Literal["id", "phone"] | None:
    """Whether an ID word or a phone word was mentioned last before a phrase."""
    ids = [m.end() for m in cue("id_words").finditer(before)]
    phones = [m.end() for m in cue("phone_words").finditer(before)]
    if not ids and not phones:
        return None
    return "id" if max(ids, default=-1) > max(phones, default=-1) else "phone"


# ── dates and times ──────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class When:
    """A requested day and/or half-day; `date` is None when only a time was said (下午吧)."""

    date: dt.date | None
    period: Period | None
    time: dt.time | None
    text: str  # the matched expression, in normalised form (听日 → 明天)


_DOTTED_DATE = re.compile(
    r"(?<![\d.])(1[0-2]|0?[1-9])\.(3[01]|[12]\d|0?[1-9])(?![\d.])"
    r"(?!\s*(?:元|块|万|千|小时|个|倍|米|斤|公斤|岁|%|分))"
)
_LONG_DIGITS = re.compile(r"(?:G\s*X)?\d{7,}[\dXx]*", re.I)
_PERIOD_WORD = r"(?:上午|下午|早上|早晨|清早|早|中午|晌午|晚上|傍晚|夜里|凌晨)"
_CLOCK = (
    r"(?:[零〇一二两三四五六七八九十\d]{1,3}(?:点钟?|时|:\d{1,2})"
    r"(?:[零〇一二三四五六七八九十\d]{1,3}分?|半|[一三]刻)?)"
)
_CLOCK_ONLY = re.compile(rf"(?:{_PERIOD_WORD}|{_CLOCK}|的|左右|\s)+")
_MORNING_WORD = re.compile(r"上午|早|凌晨")
_AFTER = re.compile(r"(?<=[点时分半刻钟])(以后|之后|后)$")
_BARE_WEEKDAY = re.compile(r"(?:周|星期|礼拜)[一二三四五六日天1-7]")
_BARE_DAY = re.compile(r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})[号日]")
_MONTH_DAY = re.compile(r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})月")
_RECENT_PAST = dt.timedelta(days=31)


def extract_when(text: str, now: dt.datetime) -> When | None:
    """The day and half-day (or exact time) a resident asks for, resolved against `now`.

    Expressions are found and resolved by jionlp; we only normalise colloquial forms first
    and interpret the result for booking: a bare weekday or day-of-month means the next
    one, "三点" with no morning word means 15:00, and a later time-only phrase refines the
    day before it (明天上午不行，下午吧 → 明天下午). With several days the last one wins,
    since residents correct themselves at the end (不是明天，是后天).
    """
    found = extract_whens(text, now)
    return found[-1] if found else None


def already_past(when: When, now: dt.datetime) -> bool:
    """现在, 上周: a moment here or gone, which can set no booking value."""
    today = now.date()
    if when.date is None:
        return False
    return when.date < today or (when.date == today and when.time is not None and when.time <= now.time())


def bare_today(when: When, now: dt.datetime) -> bool:
    """今天 with no time or half-day: talked about (今日好热, 现在就约), not a value on its own."""
    return when.date == now.date() and when.period is None and when.time is None


def extract_whens(text: str, now: dt.datetime) -> tuple[When, ...]:
    """Every day or time the text says, in order, each read as `extract_when` reads the last:
    a correction names the old value and the new (上午唔得，改下午，上午要带孙), and only
    the caller knows which one is new."""
    if now.tzinfo is None:  # a naive clock is taken to be Beijing time, not the server's
        now = now.replace(tzinfo=SHANGHAI)
    base = now.astimezone(SHANGHAI).replace(tzinfo=None, second=0, microsecond=0)
    return _extract_whens(time_text(text), base)


def time_text(text: str) -> str:
    """Normalised text with Cantonese/colloquial forms rewritten and identifiers blanked."""
    text = normalise(text)
    for colloquial, standard in knowledge().times.items():  # tools/knowledge/times.tsv
        text = text.replace(colloquial, standard)
    text = _LONG_DIGITS.sub("，", text).replace(",", "，")  # jionlp drops a day before ","
    return _DOTTED_DATE.sub(r"\1月\2日", text)


@lru_cache(maxsize=512)
def _extract_whens(text: str, base: dt.datetime) -> tuple[When, ...]:
    """Cached on (text, minute): the agent asks more than once per turn."""
    try:
        entities = jio.ner.extract_time(text, time_base=base, with_parsing=True)
    except Exception:  # jionlp raises assorted errors on odd input; a chat must not crash
        log.debug("jionlp could not parse %r", text, exc_info=True)
        return ()
    found: list[When] = []
    for entity in entities:
        when = _to_when(entity, base.date())
        if when is None:
            continue
        if found and when.date is None and found[-1].date is not None:
            when = replace(when, date=found[-1].date, text=f"{found[-1].text} {when.text}")
        elif found and found[-1].date is not None:  # 下礼拜二那个改到礼拜三: in the week just named
            when = in_week_of(when, found[-1].date, base.date())
        found.append(when)
    return tuple(found)


_WEEKDAY_ONLY = re.compile(r"^(?:周|星期|礼拜)[一二三四五六日天1-7]")


def bare_weekday(when: When | None) -> bool:
    """礼拜三 with no 这/下: a day whose week the context gives."""
    return when is not None and when.date is not None and _WEEKDAY_ONLY.match(when.text) is not None


def in_week_of(when: When, anchor: dt.date, today: dt.date) -> When:
    """A bare weekday (礼拜三, no 这/下) said about another day is that day's week's: 下周二那个
    改到周三 is the Wednesday after that Tuesday, not the coming one. Unchanged when the text
    qualifies its week, or when that week's day is already past."""
    if not bare_weekday(when) or when.date is None:
        return when
    return replace(when, date=same_weekday_in_week_of(when.date, anchor, today))


def same_weekday_in_week_of(day: dt.date, anchor: dt.date, today: dt.date) -> dt.date:
    """`day`'s weekday in `anchor`'s week, if that is still ahead; else `day`."""
    moved = anchor - dt.timedelta(days=anchor.weekday()) + dt.timedelta(days=day.weekday())
    return moved if moved > today else day


def _to_when(entity: dict[str, Any], today: dt.date) -> When | None:
    """One jionlp time entity as a `When`, or None for ranges longer than a day (下周)."""
    detail, expr = entity["detail"], entity["text"]
    after = _AFTER.search(expr)
    if detail["type"] == "time_span" and after and detail["definition"] == "accurate":
        # 两点半以后: the first slot from then; jionlp reads it as a span (its end open or odd)
        detail = {**detail, "type": "time_point", "time": [detail["time"][0]] * 2}
    if detail["type"] != "time_point":
        return None
    start, end = (dt.datetime.fromisoformat(value) for value in detail["time"])
    if start.date() != end.date():
        return None
    core = expr[: after.start()] if after else expr
    day = None if _CLOCK_ONLY.fullmatch(core) else _roll_forward(start.date(), expr, today)
    if start.time() == dt.time(0) and end.time() == dt.time(23, 59, 59):
        return When(day, None, None, expr)
    if detail["definition"] == "accurate":
        clock = start.time()
        if clock.hour < 7 and not _MORNING_WORD.search(expr):
            clock = clock.replace(hour=clock.hour + 12)  # 三点 at a hall means 15:00
        return When(day, "上午" if clock < dt.time(13) else "下午", clock, expr)
    return When(day, _period_of_range(start.time(), end.time()), None, expr)


def _period_of_range(start: dt.time, end: dt.time) -> Period | None:
    """上午 or 下午 for a vague range; 中午 and 晚上 fit neither, so the agent asks."""
    if end <= dt.time(12, 0, 59):
        return "上午"
    if dt.time(13) <= start < dt.time(18):
        return "下午"
    return None


def _roll_forward(day: dt.date, expr: str, today: dt.date) -> dt.date:
    """Move a past date said without week, month or year to its next occurrence."""
    if day >= today:
        return day
    if _BARE_WEEKDAY.match(expr):
        return day + dt.timedelta(days=7)
    if _BARE_DAY.match(expr):
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        try:
            return day.replace(year=year, month=month)
        except ValueError:  # 31号 in a 30-day month
            return day
    if _MONTH_DAY.match(expr) and today - day > _RECENT_PAST:
        try:
            return day.replace(year=day.year + 1)
        except ValueError:  # 2月29号
            return day
    return day


def warm_up() -> None:
    """jionlp loads its dictionaries on first use (~60 ms); call at start-up, not mid-turn."""
    extract_when("明天下午三点", dt.datetime.now(SHANGHAI))


# ── halls ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class HallRef:
    """What hall matching needs to know about a hall (memory's Hall has more)."""

    id: int
    name: str
    city: str
    aliases: tuple[str, ...] = ()
    # opening hours of each half-day, (open, close) as HH:MM: 早啲 moves a slot only within them
    hours: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Key:
    hall: HallRef
    text: str
    sound: str  # fuzzy pinyin, space-padded so containment respects syllable boundaries


@dataclass(frozen=True)
class _HallIndex:
    keys: tuple[_Key, ...]
    cities: tuple[tuple[str, str, str], ...]  # (city, stem, stem's sound)
    main: dict[str, HallRef]  # city → its one hall without a district in the name


_DISTRICT = re.compile(r"^(.{2,3}?)(?:区|县)")
_FUZZY_THRESHOLD = 80


def hall_words(hall: HallRef) -> list[str]:
    """Every way a resident may name a hall: its name, aliases, city and district (兴宁 of
    南宁市兴宁区政务服务中心), so that an answer repeating any of them says nothing new."""
    district = _DISTRICT.match(hall.name.removeprefix(hall.city))
    return [hall.name, *hall.aliases, hall.city, hall.city.removesuffix("市"), *(district.groups() if district else ())]


def match_hall(text: str, halls: Sequence[HallRef]) -> HallRef | None:
    """The hall a resident means: by name or alias, then by sound, then fuzzily, then by city.

    A city mentioned on its own (在桂林办) picks that city's main hall, and a mentioned city
    limits the candidates so that 柳州市民中心 is not Nanning's 市民中心. District halls
    are named by their district (兴宁), which the city hall's names never contain.
    """
    clean = normalise(text)
    if not clean or not halls:
        return None
    index = _hall_index(tuple(halls))
    sound = sound_key(clean)
    cities = _mentioned_cities(clean, sound, index)
    keys = [k for k in index.keys if len(cities) != 1 or k.hall.city in cities]
    hall = _by_name(clean, sound, keys)
    if hall is None and len(cities) == 1:
        hall = index.main.get(cities.pop())
    return hall


@lru_cache(maxsize=8)
def _hall_index(halls: tuple[HallRef, ...]) -> _HallIndex:
    """Names, aliases and district stems with their pinyin, computed once per hall list."""
    keys: list[_Key] = []
    main: dict[str, list[HallRef]] = {}
    for hall in halls:
        district = _DISTRICT.match(hall.name.removeprefix(hall.city))
        texts = {hall.name, *hall.aliases} | ({district.group(1)} if district else set())
        keys += [_Key(hall, t, sound_key(normalise(t))) for t in sorted(texts)]
        if district is None:
            main.setdefault(hall.city, []).append(hall)
    stems = {(h.city, h.city.removesuffix("市")) for h in halls}
    cities = tuple((city, stem, sound_key(stem)) for city, stem in sorted(stems))
    return _HallIndex(tuple(keys), cities, {c: hs[0] for c, hs in main.items() if len(hs) == 1})


def _mentioned_cities(clean: str, sound: str, index: _HallIndex) -> set[str]:
    """Cities named in the text, by characters or, failing that, by sound (流州 → 柳州)."""
    exact = {city for city, stem, _ in index.cities if stem in clean}
    return exact or {city for city, stem, stem_sound in index.cities
                     if stem_sound in sound and _misspelt(clean, stem, stem_sound)}


def _misspelt(clean: str, stem: str, stem_sound: str) -> bool:
    """A run of the text that sounds like the city and keeps one of its characters (流州 for 柳州):
    a homophone across two words (上午走不开 sounds like 梧州) names no city."""
    return any(sound_key(clean[i:i + len(stem)]) == stem_sound and set(clean[i:i + len(stem)]) & set(stem)
               for i in range(len(clean) - len(stem) + 1))


def _by_name(clean: str, sound: str, keys: Sequence[_Key]) -> HallRef | None:
    """Best name/alias match: exact text, then exact sound, then rapidfuzz similarity."""
    for score in (
        lambda k: len(k.text) if k.text in clean else 0,
        lambda k: len(k.text) if k.sound in sound else 0,
        lambda k: _fuzzy_score(k.text, clean),
    ):
        if hall := _unique_best(keys, score):
            return hall
    return None


def _fuzzy_score(key: str, clean: str) -> float:
    """Similarity of a name to the best-aligned part of the text; 0 below the threshold."""
    if len(key) < 4:
        return 0.0
    # a text shorter than the name must resemble all of it, not just a part
    matcher = fuzz.partial_ratio if len(clean) >= len(key) else fuzz.ratio
    ratio = matcher(key, clean)
    return ratio if ratio >= _FUZZY_THRESHOLD else 0.0


def _unique_best(keys: Sequence[_Key], score: Callable[[_Key], float]) -> HallRef | None:
    """The hall with the top positive score, or None when two halls share it."""
    best: dict[HallRef, float] = {}
    for key in keys:
        if (value := score(key)) > 0:
            best[key.hall] = max(best.get(key.hall, 0.0), value)
    if not best:
        return None
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]


# ── yes / no ─────────────────────────────────────────────────────────────────────────────

_QUESTION = re.compile(r"[?？]|[吗呢么咩]\W*$|([^不])不\1")
_PUNCTUATION = re.compile(r"[\W_]+")


def classify_answer(text: str) -> Answer:
    """A resident's reply to a confirmation question: yes, no, or something else.

    The reply must consist only of yes/no words and fillers; anything else (a new date, a
    service, a question) is "other" so the agent treats it as a new request. A negation
    anywhere wins (不好, 唔得, 算了吧).
    """
    labels = answer_words(text)
    if labels is None:
        return "other"
    if "no" in labels:
        return "no"
    return "yes" if "yes" in labels else "other"


def answer_words(text: str) -> list[str] | None:
    """The labels (yes, no, filler) of a reply made only of answer words; None for a question
    or a reply with any other word in it."""
    clean = normalise(text).lower()
    if not clean or _QUESTION.search(clean):
        return None
    return _tokenise(_PUNCTUATION.sub("", clean) or clean, knowledge().answers)


def _tokenise(text: str, lexicon: dict[str, str]) -> list[str] | None:
    """Greedy longest-match over the answer words (tools/knowledge/answers.tsv): their labels
    (yes, no, filler), or None if any part is not one of them."""
    longest = max(map(len, lexicon), default=1)
    labels: list[str] = []
    position = 0
    while position < len(text):
        for size in range(min(longest, len(text) - position), 0, -1):
            word = text[position : position + size]
            if word in lexicon:
                labels.append(lexicon[word])
                position += size
                break
        else:
            return None
    return labels
