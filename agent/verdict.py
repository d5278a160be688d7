"""A resident's answer to a confirmation question: yes, no, or something else.

Only an explicit yes confirms a write, yet people seldom answer in one word. They repeat what
they agree to (就后天下午那个; 护照嗰个照约), answer with the action's own verb (系，取消;
改吧), put a remark before the yes (商量过了，她说行), or hold off without refusing (暂时唔好约住).
This module reads those forms; the words are data (answers.tsv, cues.tsv), and anything it
cannot read is "other", which the repair commands then handle — never a yes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence

from tongban.agent.brains.slots import (
    Answer,
    HallRef,
    When,
    already_past,
    answer_words,
    bare_today,
    classify_answer,
    extract_when,
    extract_whens,
    hall_words,
    match_hall,
    time_text,
)
from tongban.tools.language import cue, knowledge
from tongban.tools.text import normalise, official_reading

_CLAUSE = re.compile(r"[，,。.！!；;、\s]+")
_QUESTION = re.compile(r"[?？吗呢咩]|([^不])不\1")
# cues of a clause that does something besides answering: it is no remark before a yes
_DOING = ("negation", "change", "mistake", "dismiss", "cancel", "handoff", "service_words", "asks",
          "injection", "third_party", "show_data", "erase")
REMARK = 8  # characters: a longer clause says something of its own


def verdict(text: str, action: str, *, names: Iterable[str] = (), item: str = "", offered: str = "",
            now: dt.datetime | None = None, halls: Sequence[HallRef] = ()) -> Answer:
    """yes, no or other. `names`: how the resident may name the pending action's item, whose
    official name is `item`; `offered`: what the confirmation question proposed (its day, time and
    hall), which an answer may repeat (就后天下午那个) without saying anything new; `now` and
    `halls` read those repeats."""
    text = time_text(text)
    if now is not None and _new_value(text, offered, now, halls):
        return "other"  # 后天要上班，大后天先得: a yes never carries a day, time or hall of its own
    if any(cue("greeting").search(form) for form in (text.lower(), normalise(text))):
        return "other"  # 好嘅，唔该晒: an acknowledgement with thanks, which says thanks and agrees to no write
    restated = restating(text, offered, now, halls) if now is not None else []
    said = [*names, *calling(text, item), *restated]
    for word in sorted(set(said), key=len, reverse=True):
        text = text.replace(word, "，")

    def new_value(clause: str) -> bool:
        return now is not None and (extract_when(clause, now) is not None or match_hall(clause, halls) is not None)

    held = cue("hesitate").sub("，", text)
    if held != text:  # 暂时唔好约住, 等我问下: a pause; its own negation refuses nothing
        return "no" if _answer(held, action) == "no" else "other"
    if cue("acknowledge").search(text) and _answer(cue("ack_yes").sub("，", cue("acknowledge").sub("，", text)), action) != "yes":
        return "other"  # 好的，我晓得了: what was answered is understood; no write is agreed to
    judged = cue("appraisal").sub("，", text)  # 唔系好远 judges what was answered: it corrects nothing
    if action in ("book", "reschedule") and cue("mistake").search(judged) and _answer(cue("mistake").sub("，", judged), action) != "no":
        return "other"  # 唔啱, 不对: something in the offer is wrong, which is no refusal of it
    whole = _answer(text, action)
    if whole != "other":
        return whole
    clauses = [c for c in _CLAUSE.split(text) if c]
    if restated and all(_filler(c) or cue("appraisal").fullmatch(c) for c in clauses):
        return "yes"  # 就十点半, 唔算远，就后天下午那个: the offer's own day, time or hall repeated, nothing else said
    if len(clauses) > 1 and _answer(clauses[-1], action) == "yes" and all(
            _remark(c, action, new_value) for c in clauses[:-1]):
        return "yes"  # 商量过了，她说行: a remark, then the answer
    return "other"


def _answer(text: str, action: str) -> Answer:
    """The answer words alone, or the action's own verb with answer words around it (系，取消)."""
    found = classify_answer(text)
    name = f"confirm_{action}"
    if found == "yes" or name not in knowledge().cues:
        return found
    verb = cue(name)
    said = list(verb.finditer(text))
    if not said:
        return found
    rest = verb.sub("，", text)
    labels = answer_words(rest) if rest.strip(" ，,。.!！") else []
    if labels is None:  # more than an answer (不约了，我想问问…): for the repair commands
        return found
    negation = cue("negation")
    if "no" in labels or any(negation.search(text[max(0, m.start() - 2):m.start()])
                             and not negation.match(m.group()) for m in said):
        return "no"  # 不要取消, 唔使改: the action itself is refused
    return "yes"


def _filler(clause: str) -> bool:
    """A clause of answer words that says neither yes nor no (就, 啦, 那个)."""
    labels = answer_words(clause)
    return labels is not None and "no" not in labels


def _remark(clause: str, action: str, new_value: Callable[[str], bool]) -> bool:
    """A clause that is a yes, or a short remark that could not change or refuse the action
    (明白了, 商量过了, 赶得及): no negation, question, correction, item, day, time or hall."""
    if _answer(clause, action) == "yes":
        return True
    if len(clause) > REMARK or _QUESTION.search(clause) or re.search(r"\d", clause):
        return False
    if cue("appraisal").fullmatch(clause):
        return True  # 唔算麻烦, 不远: a judgement on what was just answered, whose negation refuses nothing
    return not any(cue(name).search(clause) for name in _DOING) and not new_value(clause)


def restating(text: str, offered: str, now: dt.datetime, halls: Sequence[HallRef]) -> list[str]:
    """The expressions of day, time and hall in `text` (in `time_text` form) that repeat what was
    offered (11月27日（周五）上午09:00-09:30，柳州市政务服务中心)."""
    said: list[str] = []
    for when in extract_whens(text, now):
        if _restates(when, offered):
            said.extend(when.text.split(" "))
    hall = match_hall(text, halls)
    if hall is not None and hall.name in offered:
        said += hall_words(hall)
    return [word for word in said if word and word in text]


_BARE_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")


def _restates(when: When, offered: str) -> bool:
    """`when` repeats the offer; a bare weekday (改到周五) names the offer's own weekday, which
    the offer may have put in a later week (下周五) than the reader's nearest one."""
    bare = _BARE_WEEKDAY.fullmatch(when.text)
    if bare is not None and when.period is None and when.time is None:
        return f"（周{bare.group(1).replace('天', '日')}）" in offered
    return ((when.date is None or f"{when.date.month}月{when.date.day}日" in offered)
            and (when.period is None or when.period in offered)
            and (when.time is None or f"{when.time:%H:%M}-" in offered))


def _new_value(text: str, offered: str, now: dt.datetime, halls: Sequence[HallRef]) -> bool:
    """A day, time or hall ahead that the offer does not hold: the answer changes something.
    现在 and 今天 said in passing are no value (好，现在就约)."""
    if not offered:
        return False
    for when in extract_whens(text, now):
        if not (already_past(when, now) or bare_today(when, now)) and not _restates(when, offered):
            return True
    hall = match_hall(text, halls)
    return hall is not None and hall.name not in offered


def calling(text: str, item: str) -> list[str]:
    """The resident's words for the item in `text` (社保卡 for 社会保障卡挂失与补换): thesaurus
    words whose official term is part of its official name, and pieces of the name itself."""
    if not item:
        return []
    said = knowledge().expand(normalise(text)).said
    words = [word for word in said if len(word) >= 2 and official_reading(word) in item and word in text]
    return words + _name_parts(text, item)


def _name_parts(text: str, item: str) -> list[str]:
    """Pieces of the official name itself (港澳 for 往来港澳通行证及签注, 结婚 for 结婚登记):
    the longest runs of two or more characters that `text` shares with it."""
    parts: list[str] = []
    start = 0
    while start < len(text) - 1:
        end = start + 1
        while end < len(text) and text[start:end + 1] in item:
            end += 1
        if end - start >= 2:
            parts.append(text[start:end])
            start = end
        else:
            start += 1
    return parts
