"""长者模式: turned on and off by what a resident says (or a channel's switch), remembered on the
resident, and applied to every reply: short sentences, numbered choices, one question a turn.

The cue classes are phrasings, not sentences (tools/knowledge/cues.tsv): asking for the mode by
name, or saying one is old or can't read the small print; and asking to leave it. A message that says only that is
answered here; one that also asks something goes on to the conversation, in the mode it asked for.
"""

from __future__ import annotations

import re
from dataclasses import replace

from tongban.agent.messages import Reply
from tongban.tools.language import cue

# cues (tools/knowledge/cues.tsv) read here: elderly_on, elderly_off, elderly_filler
_NUMBERED = re.compile(r"(^|\n)\s*1[.、．）)]")
_CHOICE = re.compile(r"^\s*(?:第)?([1-9１-９一二三四五六])(?:个|项|号)?\s*$")
_CN_DIGITS = "一二三四五六"
LONG = 28  # characters: a longer sentence is split at its commas

TURNED_ON = "好的，已开启长者模式。\n我会说得简短一些。\n每次只问一个问题。\n要关闭，请说“关闭长者模式”。"
TURNED_OFF = "好的，已关闭长者模式。要再开启，请说“开启长者模式”。"
ALREADY_ON = "长者模式已经开着。有什么可以帮您？"
ALREADY_OFF = "长者模式没有开启。要开启，请说“开启长者模式”。"


def asked(text: str) -> bool | None:
    """True to turn the mode on, False to turn it off, None when the message doesn't ask."""
    if cue("elderly_off").search(text):
        return False
    if cue("elderly_on").search(text):
        return True
    return None


def only_asked(text: str) -> bool:
    """The message asks for the mode and nothing else (no question left for the conversation)."""
    rest = cue("elderly_on").sub("", cue("elderly_off").sub("", text))
    return len(cue("elderly_filler").sub("", rest)) <= 2


def acknowledge(on: bool, was: bool) -> str:
    if on == was:
        return ALREADY_ON if on else ALREADY_OFF
    return TURNED_ON if on else TURNED_OFF


def choose(text: str, offered: list[str]) -> str | None:
    """"2" (or 二, 第二个) picks the second of the choices the last reply numbered."""
    found = _CHOICE.match(text)
    if not found or not offered:
        return None
    digit = found.group(1)
    if digit in _CN_DIGITS:
        number = _CN_DIGITS.index(digit) + 1
    else:
        number = int(digit.translate(str.maketrans("１２３４５６７８９", "123456789")))
    return offered[number - 1] if number <= len(offered) else None


def plain(reply: Reply) -> tuple[Reply, list[str]]:
    """The reply in elderly mode, and the choices it numbered (for `choose` next turn)."""
    if not reply.text:
        return replace(reply, elderly=True), []
    text = _one_question(_short_sentences(reply.text))
    choices = [q for q in reply.quick_replies if q != "跳过"][:4]
    if len(choices) >= 2 and not _NUMBERED.search(text):
        text += "\n请回复数字：\n" + "\n".join(f"{n}. {c}" for n, c in enumerate(choices, 1))
    else:
        choices = []
    return replace(reply, text=text, elderly=True), choices


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。！？!?])|(?=\n)", text) if s.strip()]


def _short_sentences(text: str) -> str:
    """A long sentence becomes several at its commas (not those inside brackets or quotes)."""
    out = []
    for sentence in _sentences(text):
        if len(sentence) > LONG:
            sentence = "".join(_commas_outside(sentence))
        out.append(sentence)
    return "".join(out)


def _commas_outside(sentence: str) -> list[str]:
    depth, chars = 0, []
    for char in sentence:
        depth += char in "（(“「《"
        depth -= char in "）)”」》"
        chars.append("。" if char == "，" and depth <= 0 else char)
    return chars


def _one_question(text: str) -> str:
    """Keep the first question; what follows it, if it asks again, waits for the next turn."""
    kept, questions = [], 0
    for sentence in _sentences(text):
        if sentence.rstrip().endswith(("？", "?")):
            questions += 1
            if questions > 1:
                continue
        kept.append(sentence)
    return "".join(kept)
