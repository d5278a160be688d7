"""What a resident wants, from the way people phrase it — general cue classes, not sentences.

Each cue class is a set of phrasings in Mandarin, colloquial and Cantonese-flavoured Chinese,
kept as data in `tools/knowledge/cues.tsv`; this module says which classes a message shows. The
offline brain combines them with slot extraction and the retrieval's confidence; the order of
`detect` is the precedence when several match.
"""

from __future__ import annotations

from dataclasses import dataclass

from tongban.tools.language import cue


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
    """The cue classes this message shows."""
    return Cues(
        handoff=bool(cue("handoff").search(text)),
        erase=bool(cue("erase").search(text)) and bool(cue("erase_about").search(text)),
        show_data=bool(cue("show_data").search(text)),
        injection=bool(cue("injection").search(text)),
        third_party=bool(cue("third_party").search(text)),
        cancel=bool(cue("cancel").search(text)),
        my_appointments=bool(cue("my_appointments").search(text)),
        book=bool(cue("book").search(text)),
        progress=bool(cue("progress").search(text)),
        greeting=bool(cue("greeting").match(text.strip())),
        about_bot=bool(cue("about_bot").search(text)),
        service_words=bool(cue("service_words").search(text)),
        form=bool(cue("form").search(text)),
        change=bool(cue("change").search(text)),
        mistake=bool(cue("mistake").search(text)),
        dismiss=bool(cue("dismiss").search(text)),
        hesitate=bool(cue("hesitate").search(text)),
        booked_ref=bool(cue("booked_ref").search(text)),
        thanks=bool(cue("thanks").search(text)),
        asks_how=bool(cue("asks_how").search(text)),
    )


def strip_repair_words(text: str) -> str:
    """The message without its repair words (不约了，…), for finding what it is about."""
    for name in ("dismiss", "mistake", "hesitate"):
        text = cue(name).sub("，", text)
    return text.strip("，, ")
