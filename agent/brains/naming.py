"""Does a message name a catalog item? By its name, or one of its keywords, literally or by sound.

Retrieval ranks items by everything they say (FAQs included), so generic wording such as
多久能批下来 can score high for some item. Naming is the stricter test the dialogue needs:
whether the resident mentioned this item, or is still talking about the one in play.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tongban.tools.language import cue
from tongban.tools.text import sound_key

_PAREN = re.compile(r"[（(].*?[）)]")


@dataclass
class ItemTerms:
    """Name fragments and keywords per item code, with their pinyin, built once per catalog."""

    terms: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def build(cls, items: list[tuple[str, str, list[str]]]) -> ItemTerms:
        table: dict[str, list[tuple[str, str]]] = {}
        for code, name, keywords in items:
            # the action an item name ends with (cue name_suffix): 残疾人证办理 is also named by 残疾人证
            words = {name, _PAREN.sub("", name), cue("name_suffix").sub("", _PAREN.sub("", name)), *keywords}
            words = {w for w in words if len(w) >= 2}
            table[code] = sorted(((w, sound_key(w)) for w in words), key=lambda t: -len(t[0]))
        return cls(table)

    def named(self, text: str, code: str) -> int:
        """Length of the longest term of this item the text mentions (0: not named)."""
        return len(self.naming_word(text, code))

    def naming_word(self, text: str, code: str) -> str:
        """The longest term of this item the text mentions, "" when none."""
        sound = None
        for word, word_sound in self.terms.get(code, []):
            if word in text:
                return word
            if len(word) >= 3:
                sound = sound or sound_key(text)
                if word_sound in sound:  # a homophone from speech recognition or a typo
                    return word
        return ""

    def shares(self, code: str, word: str) -> bool:
        """Whether one of this item's own terms contains `word` (营业执照 within 营业执照变更):
        such a word names this item as much as the one whose term it is."""
        return any(word in own for own, _ in self.terms.get(code, []))
