"""The offline brain's reading of a message that repairs a suspended task, as commands.

The task waits for the resident's confirmation (or was booked a moment ago); the message was
neither yes nor no. Cue classes and slot extraction say what it does to the task: set (correct)
a value, set the task aside for a question, a progress query, thanks or hesitation, drop it
for another topic, or change or cancel what was just booked. `agent.flows` executes them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from tongban.agent.brains.base import BrainContext
from tongban.agent.brains.intents import Cues, cues, strip_repair_words
from tongban.agent.brains.slots import (
    HallRef,
    When,
    already_past,
    bare_today,
    extract_receipt_no,
    extract_whens,
    in_week_of,
    match_hall,
    normalise,
)
from tongban.agent.commands import Command, clarify, command, digress, set_slots
from tongban.agent.state import Frame
from tongban.tools.language import cue, knowledge
from tongban.tools.retrieval import Hit
from tongban.tools.text import official_reading

Search = Callable[[str], Hit | None]  # the item a text names confidently, if any
# cues (tools/knowledge/cues.tsv) read here: asks (the message asks something), asks_about (about
# an item's content), booked_wrong (booked the wrong thing), instead (不是X，是Y), rather (算了，还是…),
# shift (早啲, 晚些: a time to change, to what unsaid); the Cues'
# thanks (thanking or praising, kept apart from a request) and hesitate (a pause)


def repair_commands(text: str, frame: Frame, ctx: BrainContext, search: Search) -> list[Command]:
    """Commands for this message; empty when it is a new request unrelated to the frame."""
    text = normalise(text)
    c = cues(text)
    if c.injection or c.third_party or c.erase or c.show_data or c.form:
        return []  # the ordinary rules refuse or serve these, and the task is closed
    if c.handoff:
        return [command("hand_off")]
    if frame["flow"] == "booked":
        return _after_booking(text, c, frame, ctx, search)
    if (c.progress or extract_receipt_no(text)) and not (c.change or c.mistake or c.dismiss):
        return [digress("progress")]  # 顺便问下…到哪一步了: its 现在, 上周 set no booking value
    if frame["flow"] == "book_appointment" and _books_another(text, frame, c, search):
        return [command("start_flow")]  # 帮我约…办护照 while 社保卡 waits: another task, its own values
    if (frame["flow"] == "book_appointment" and c.dismiss and (rest := _after_dismissal(text)) != text
            and _books_another(rest, frame, cues(rest), search)):
        # 社保卡那个不用了，我要约…办教师资格认定: the task dropped, another booked in its place
        return [command("cancel_flow"), {"command": "start_flow", "text": rest}]
    slots = _slots(text, frame, ctx, search, c)
    # 算了，还是下周四: a dismissal that goes on to another value prefers it, and corrects
    if slots and not (c.dismiss and not c.change and not c.mistake and not cue("rather").search(text)):
        return [set_slots(**slots)]
    if c.dismiss:
        rest = _after_dismissal(text)
        # 唔约住，帮我查下GX…去到边: a receipt number after the dismissal is a progress query of its own
        topic = len(rest) >= 2 and (search(rest) is not None or bool(cue("asks").search(rest)) or c.book or c.progress
                                    or extract_receipt_no(rest) is not None)
        return [command("cancel_flow"), {"command": "start_flow", "text": rest}] if topic else [command("cancel_flow")]
    which = next((value for value in ("hall", "date", "time") if cue(f"change_{value}").search(text)), None)
    if which is not None:
        return [clarify(which)]  # 换个大厅: the value to change is said, not what to
    if cue("shift").search(text) and (shifted := _shifted(text, frame, ctx)):
        return [set_slots(**shifted)]  # 早啲得唔得: the slot next to the one offered
    if (c.mistake and not cue("asks").search(text)) or cue("shift").search(text):
        return [command("clarify")]  # 搞错了 / 早啲 from the first slot: something is to change, we ask what to
    if c.progress or extract_receipt_no(text):
        return [digress("progress")]
    hit = search(text)
    if hit is not None and cue("asks").search(text) and hit.signals.get("named", 0) < 2:
        hit = None  # 去到能当场拿到吗 names no item: a question about the one being booked, whatever FAQ it echoes
    other = hit is not None and hit.code != (frame.get("item") or {}).get("code")
    if other and (c.book or not cue("asks_about").search(text)):
        # booking something else, or 那残疾人证呢 (another item, nothing asked about it yet):
        # a new topic replaces the task; 公积金怎么提取 asks something, and is an aside
        return [command("start_flow")]
    if c.hesitate and not _asks_too(text, hit, search):
        return [digress("hesitate")]
    plain = hit is None and not cue("asks").search(text)
    if c.greeting or (c.thanks and plain) or (cue("acknowledge").search(text) and plain):
        return [digress("chitchat")]  # 好的，我晓得了 acknowledges what was answered: the task still waits
    if cue("asks").search(text) or hit is not None or c.about_bot:
        return [digress("question", hit.code if other and hit is not None else None)]
    if extract_whens(text, ctx.now):  # 今日好热: a day talked about, not a value set, nor a request
        return [command("cannot_handle")]
    return []


def _shifted(text: str, frame: Frame, ctx: BrainContext) -> dict[str, str] | None:
    """早啲 / 晚一点 / 提早 said of the slot offered: the one next to it, a slot's length earlier
    or from its end, inside the hall's opening hours of that half-day; None when no slot was
    offered or none is next to it (早啲 from the first slot), and the agent asks what to change."""
    said = cue("shift").search(text)
    slot = (frame.get("pending") or {}).get("slot")
    if said is None or not slot:
        return None

    def minutes(hhmm: str) -> int:
        return int(hhmm[:2]) * 60 + int(hhmm[3:])

    period, start, end = slot["period"], minutes(slot["start"]), minutes(slot["end"])
    step = _amount(said.group()) or (end - start)
    new = start - step if ("早" in said.group() or "前" in said.group()) else start + step
    hall = next((h for h in ctx.halls if h.name == slot["hall"]), None)
    hours = hall.hours if hall is not None else ()
    half = hours[0 if period == "上午" else 1] if len(hours) == 2 else None
    if half is None:
        return None
    if not minutes(half[0]) <= new <= minutes(half[1]) - (end - start):
        return None
    return {"time": f"{new // 60:02d}:{new % 60:02d}", "period": period}


def _amount(said: str) -> int | None:
    """Minutes an earlier-or-later names (半个钟 30, 一个钟头 60, 20分钟), None when it names none
    (早啲: one slot's length)."""
    if "半" in said:
        return 30
    if (minutes := re.search(r"(\d{1,2})分", said)) is not None:
        return int(minutes.group(1))
    hours = re.search(r"([一两12])个?(钟|小时)", said)
    return None if hours is None else 60 * ("一两12".index(hours.group(1)) % 2 + 1)


def _books_another(text: str, frame: Frame, c: Cues, search: Search) -> bool:
    """A request to book an item named outright, other than the one waiting, with no word of
    correction, negation or dropping (those have their own readings): a topic switch, not a
    correction that would quietly keep the old item."""
    if not c.book or c.mistake or c.change or c.dismiss or cue("instead").search(text) or cue("negation").search(text):
        return False
    hit = search(strip_repair_words(text))
    return (hit is not None and hit.signals.get("named", 0) >= 2
            and hit.code != (frame.get("item") or {}).get("code"))


def _after_dismissal(text: str) -> str:
    """What a message that drops the task goes on to (社保卡先不管了，问下…): the words after
    its last dismissal, else the message without its repair words."""
    ends = [m.end() for m in cue("dismiss").finditer(text)]
    after = text[ends[-1]:].strip("，,。 ") if ends else ""
    return after if len(after) >= 2 else strip_repair_words(text)


def _asks_too(text: str, hit: Hit | None, search: Search) -> bool:
    """等等，先问一下…怎么备案: besides the pause, the message asks us a real question — it names
    an item, or what is left once the pause words are gone asks about a service's content (not
    我先问问我老公那天有没有空, a question for someone else)."""
    rest = strip_repair_words(text)
    if hit is not None or (len(rest) >= 2 and search(rest) is not None):
        return True
    return bool(cue("asks_about").search(rest) and cue("asks").search(rest) and cues(rest).service_words)


def about_booking(text: str) -> bool:
    """Whether a message right after a booking may be about it (约错了, 改到…, 取消): other
    messages are new requests, and no model is asked about them."""
    c = cues(normalise(text))
    return c.mistake or c.change or c.cancel


def _after_booking(text: str, c: Cues, frame: Frame, ctx: BrainContext, search: Search) -> list[Command]:
    """约错了 / 改成明天下午 / 取消 right after booking refer to the appointment just made."""
    if not (c.mistake or c.change or c.cancel):
        return []
    hit = search(strip_repair_words(text))
    if hit is not None and hit.signals.get("named", 0) >= 2 and hit.code != (frame.get("item") or {}).get("code"):
        return []  # names another appointment: the ordinary rules find it
    slots = _slots(text, frame, ctx, search, c)
    slots.pop("item_code", None)
    if slots and not c.cancel:
        return [{"command": "change_appointment", "slots": slots}]  # type: ignore[typeddict-item]
    if c.cancel or cue("booked_wrong").search(text):
        return [command("cancel_appointment")]
    return [command("clarify")] if c.mistake else []


def _slots(text: str, frame: Frame, ctx: BrainContext, search: Search, c: Cues) -> dict[str, str]:
    """The values this message sets that differ from the frame's: time, half-day, date, hall, item."""
    old = frame.get("slots") or {}
    found: dict[str, str] = {}
    # a correction may name the old value beside the new (上午唔得，改下午，上午要带孙): the new one counts
    whens = extract_whens(text, ctx.now)
    if old.get("date"):  # 改到周三, said of a booking next Tuesday: that week's Wednesday
        anchor = dt.date.fromisoformat(old["date"])
        whens = tuple(in_week_of(w, anchor, ctx.now.date()) if i == 0 else w for i, w in enumerate(whens))
    # 现在, 上周 set nothing; nor does 今天 alone unless a word of change says so (改到今天下午)
    changed = [w for w in whens if _differs(w, old) and not already_past(w, ctx.now)
               and not (bare_today(w, ctx.now) and not (c.change or c.mistake))]
    when = changed[-1] if changed else None
    if when is not None:
        if when.date is not None and when.date.isoformat() != old.get("date"):
            found["date"] = when.date.isoformat()
        if when.time is not None:
            found["time"] = when.time.strftime("%H:%M")
            found["period"] = when.period or ""
        elif when.period and (when.period != old.get("period") or old.get("time")):
            found["period"] = when.period
    hall = _new_hall(text, old.get("hall"), ctx)
    if hall is not None and _names_hall(text, hall.name, old.get("hall")):
        found["hall"] = hall.name
    code = _item(text, frame, ctx, search, c, others=bool(found))
    if code:
        found["item_code"] = code
    return {k: v for k, v in found.items() if v}


def _differs(when: When, old: dict[str, str]) -> bool:
    """The day or time said is not the task's own."""
    return bool((when.date is not None and when.date.isoformat() != old.get("date"))
                or (when.time is not None and when.time.strftime("%H:%M") != old.get("time"))
                or (when.period and (when.period != old.get("period") or old.get("time"))))


def _new_hall(text: str, old: str | None, ctx: BrainContext) -> HallRef | None:
    """The hall named other than the task's: 唔去市民中心了，兴宁区嗰个近啲 names both, and the
    old one's names are set aside to find the new."""
    hall = match_hall(text, ctx.halls)
    if (hall is not None and hall.name != old) or old is None:
        return hall
    ref = next((h for h in ctx.halls if h.name == old), None)
    if ref is None:
        return None
    # 不是南宁，我说的是北海: with the old hall's names and city set aside, the one meant is left
    for name in sorted((ref.name, *ref.aliases, ref.city, ref.city.removesuffix("市")), key=len, reverse=True):
        text = text.replace(name, "，")
    other = match_hall(text, ctx.halls)
    return other if other is not None and other.name != old else None


def _names_hall(text: str, new: str, old: str | None) -> bool:
    """不去桂林了，改成南宁市民中心 names two halls: the new one is the one after the change word."""
    return True if old is None else not (old in text and text.rfind(old) > text.rfind(new[:2]))


def _item(text: str, frame: Frame, ctx: BrainContext, search: Search, c: Cues, others: bool) -> str | None:
    """Another item meant instead of the frame's: 说错了，不是补领，是换领. `others`: the
    message corrects the day, time or hall too."""
    current = frame.get("item") or {}
    instead = cue("instead").search(text) or cue("meant_first").search(text)
    # what was said may be the resident's word for part of the name (唔系社保卡 for 社会保障卡…)
    said = next((w for w in (instead.group("said"), official_reading(instead.group("said")))
                 if w and w in current.get("name", "")), None) if instead else None
    if instead and said:
        meant = current["name"].replace(said, instead.group("meant"))
        exact = next((code for code, name in ctx.items.items() if name == meant), None)
        if exact is not None and exact != current.get("code"):
            return exact
        for query in (meant, instead.group("meant")):  # 唔系护照，系去澳门用嗰个: the words alone
            hit = search(query)
            if hit is not None and hit.code != current.get("code"):
                return hit.code
    if instead and not said and not others:
        # 系办护照，唔系社保卡 names the item meant; 不是丢了，是到期了要换 only says how it differs
        # from the one waiting, whose object (居民身份证 of 居民身份证补领) it keeps. A day, time or
        # hall corrected (不是上午，是下午) is no item
        meant = instead.group("meant").strip()
        hit = search(meant)
        if hit is None or hit.signals.get("named", 0) < 2:
            hit = search(f"{_object(current.get('name', ''))}{meant}") or hit
        if hit is not None and hit.code != current.get("code"):
            return hit.code
    denied = cue("denied").search(text) if not instead and not others else None
    if denied is not None and denied.group("said") in _action(current.get("name", "")):
        # 不是换，我身份证搞丢了要补: the action of the item waiting denied (换 of 换领), the item
        # meant described after it, which keeps the object (居民身份证)
        rest = strip_repair_words(denied.group("rest"))
        for query in (rest, f"{_object(current.get('name', ''))}{rest}"):
            hit = search(query)
            if (hit is not None and hit.code != current.get("code")
                    and ctx.items.get(hit.code, "").startswith(_object(current.get("name", "")))):
                return hit.code
    if not (c.mistake or c.change) or cue("asks").search(text):
        return None  # a question about another item is an aside, not a correction
    hit = search(strip_repair_words(text))
    # 搞错了，驾照是到期了要换 describes the item meant; a mere change (改到下午) must name it, and
    # so must a mistake that was about the day, time or hall (不对，后天要上班，换成大后天)
    named = hit is not None and hit.signals.get("named", 0) >= 2
    meant = hit is not None and ((c.mistake and not others) or named)
    return hit.code if meant and hit is not None and hit.code != current.get("code") else None


def _action(name: str) -> str:
    """The action an item's name ends with (补领 of 居民身份证补领), empty when none is known."""
    return next((a for a in knowledge().action_order if name.endswith(a) and len(a) < len(name)), "")


def _object(name: str) -> str:
    """An item's name without the action it ends with (居民身份证 of 居民身份证补领): the thing a
    correction of the action alone keeps."""
    action = next((a for a in knowledge().action_order if name.endswith(a) and len(a) < len(name)), "")
    return name.removesuffix(action) if action else name
