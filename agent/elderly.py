"""长者模式: turned on and off by what a resident says (or a channel's switch), remembered on the
resident, and applied to every reply: short sentences, numbered choices, one question a turn.

The cue classes below are phrasings, not sentences: asking for the mode by name, or saying one
is old or can't read the small print; and asking to leave it. A message that says only that is
answered here; one that also asks something goes on to the conversation, in the mode it asked for.
"""

from __future__ import annotations

import re
from dataclasses import replace

from tongban.agent.messages import Reply

_MODE = r"(长者|老人|老年|老年人|关怀|适老|适老化|大字|大字体|简洁)(模式|版|版本)"
_OFF = re.compile(
    rf"(关闭|关掉|关了|关上|退出|取消|不要|不用|停用|去掉|唔要)(一下|掉)?{_MODE}|"
    r"(恢复|切换?回|换回|改回|返回|回到)(到)?(正常|普通|标准|原来)(的)?(模式|版|字体|字号|字)|"
    r"(我)?(不是|唔系)(老年人|老人家?|长者)"
)
_ON = re.compile(
    rf"(开启|打开|开通|启用|切换到?|换成|改成|进入|使用|用|开|要|想用)(一下|个)?{_MODE}|^(请)?{_MODE}$|"
    r"我(是|系)(个|一个|一位)?(老年人|老人家?|长者|老同志|老人家)|(我)?(年纪|年龄|岁数)(太|好|比较|有点)?大|上了年纪|"
    r"(眼睛?|眼神)(不好|唔好|花|不行)|(字|字体)(太|好|有点|比较|咁)?(小|细)|(字|眼睛?)(也|都)?(看不清楚?|看不见|睇唔清|睇唔到)|"
    r"(字|字体)(大|放大|调大)(一)?(点|啲|些)|放大(字|字体)|说(慢|简单)(一)?点|讲(慢|简单)(一)?(点|啲)"
)
_FILLER = re.compile(r"[\s，,。.！!？?~～、：:；;]|请|帮我|给我|麻烦|可以|能不能|能否|吗|吧|呀|啊|啦|了|呢|哦|嘅|喇|好不好|谢谢|一下|我|你|您")
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
    if _OFF.search(text):
        return False
    if _ON.search(text):
        return True
    return None


def only_asked(text: str) -> bool:
    """The message asks for the mode and nothing else (no question left for the conversation)."""
    rest = _ON.sub("", _OFF.sub("", text))
    return len(_FILLER.sub("", rest)) <= 2


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
