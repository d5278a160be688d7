"""What a resident wants, from the way people phrase it — general cue classes, not sentences.

Each cue class is a set of phrasings in Mandarin, colloquial and Cantonese-flavoured Chinese,
kept as data in `tools/knowledge/cues.tsv`; this module says which classes a message shows. The
offline brain combines them with slot extraction and the retrieval's confidence; the order of
`detect` is the precedence when several match.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tongban.tools.language import cue
from tongban.tools.text import names_service_thing


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
        # a thing of service in the thesaurus's words (上牌, 出生纸) says so as well as a cue word
        service_words=bool(cue("service_words").search(text)) or names_service_thing(text),
    )


_READ_OTHERWISE = frozenset({"erase", "greeting", "handoff", "service_words"})


def strip_repair_words(text: str) -> str:
    """The message without its repair words (不约了，…), for finding what it is about."""
    for name in ("dismiss", "mistake", "hesitate"):
        text = cue(name).sub("，", text)
    return text.strip("，, ")
