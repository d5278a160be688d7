"""What a resident wants, from the way people phrase it — general cue classes, not sentences.

Each cue class is a set of phrasings in Mandarin, colloquial and Cantonese-flavoured Chinese,
kept as data in `tools/knowledge/cues.tsv`; this module says which classes a message shows. The
offline brain combines them with slot extraction and the retrieval's confidence; the order of
`detect` is the precedence when several match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from tongban.tools.language import cue, knowledge
from tongban.tools.text import names_service_thing, normalise, official_reading


@dataclass(frozen=True)
class Cues:
    handoff: bool
    erase: bool
    show_data: bool
    injection: bool
    third_party: bool
    cancel: bool
    my_appointments: bool
    book: bool
    progress: bool
    greeting: bool
    about_bot: bool
    service_words: bool
    form: bool
    change: bool = False
    mistake: bool = False
    dismiss: bool = False
    hesitate: bool = False
    booked_ref: bool = False
    thanks: bool = False
    asks_how: bool = False


def cues(text: str) -> Cues:
    """The cue classes this message shows: each field is the cue of its name, found anywhere,
    but for the few read otherwise below."""
    found = {f.name: bool(cue(f.name).search(text)) for f in fields(Cues) if f.name not in _READ_OTHERWISE}
    return Cues(
        **found,
        erase=bool(cue("erase").search(text)) and bool(cue("erase_about").search(text)),
        greeting=bool(cue("greeting").match(text.strip())),
        # 你系真人定机器人 asks about us: its 真人 asks for no one (我要真人 still does)
        handoff=bool(cue("handoff").search(cue("about_bot").sub("，", text))),
        # 结婚登记要先预约吗 asks whether booking is needed, about the item: it books nothing
        book=bool(cue("book").search(cue("asks_if_booking").sub("，", text))),
        # a thing of service in the thesaurus's words (上牌, 出生纸) says so as well as a cue word
        service_words=bool(cue("service_words").search(text)) or names_service_thing(text),
    )


_READ_OTHERWISE = frozenset({"book", "erase", "greeting", "handoff", "service_words"})


def strip_repair_words(text: str) -> str:
    """The message without its repair words (不约了，…), for finding what it is about."""
    for name in ("dismiss", "mistake", "hesitate"):
        text = cue(name).sub("，", text)
    return text.strip("，, ")


# a span of the first candidate's name this long that the question says names its object by
# itself (见习岗位, 港澳通行): the question is about that thing though it says no service word
OWN_SPAN = 3


def shared_object(text: str, name: str) -> int:
    """Length of the longest part of an item's name the question says, in its own words or in
    official terms, that is more than an action word (注销 alone names no object)."""
    actions = knowledge().action_terms
    readings = (normalise(text), official_reading(text))
    for size in range(len(name), 1, -1):
        for start in range(len(name) - size + 1):
            span = name[start : start + size]
            if span not in actions and any(span in r for r in readings):
                return size
    return 0


def plainly_service(text: str, names: Sequence[str]) -> bool:
    """Whether a normalised message is plainly about a government service though retrieval's
    hits (`names`, best first) are weak, on term-level signals only: a phrasing that asks for one
    (cue service_ask: 要办什么, 要批吗, 补贴); a thing of service in the thesaurus's words or an
    action word (actions.tsv), said of an object that a candidate's name shares; or a longer span
    of the first candidate's name. 怎么办, 孩子 or 手机 alone does not make one: then the honest
    reply is that it is out of scope."""
    if cue("service_ask").search(text):
        return True
    if not names:
        return False
    if shared_object(text, names[0]) >= OWN_SPAN:
        return True
    said = knowledge().expand(normalise(cue("measure").sub("", text)))  # 介绍个工作 says 介绍工作
    return bool(said.objects or said.actions) and any(shared_object(text, n) >= 2 for n in names)


def private_matter(text: str, names: Sequence[str]) -> str | None:
    """The thing of the private sector a normalised message is about (a bank's 信用卡, a shop's
    会员卡, a carrier's 手机卡, a parcel, one's glasses: tools/knowledge/private.tsv), when the
    first candidate's name (`names[0]`) names neither it nor its party: then that item is not
    what the message is about, however alike their words (丢了 and 挂失, 卡 and 社会保障卡).
    None when the message sets up a business of that trade (开个外卖店: cue own_trade), whose
    registration is a service, or says no such thing. The caller keeps an item the message
    names: 社保卡能不能在银行激活 is about 社保卡."""
    if cue("own_trade").search(text):
        return None
    for word, parties in knowledge().private_things(normalise(text)).items():
        if not names or not any(p in names[0] for p in (word, *parties)):
            return word
    return None

