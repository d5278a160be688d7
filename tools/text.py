"""Text normalisation and tokenisation shared by the catalog and the residents' questions.

Residents type on phones, speak into WeChat's speech input, write Traditional characters or
Cantonese, and use full-width digits; the catalog is written in standard Simplified Chinese.
Both sides go through the same `normalise` so surface differences never decide a match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import opencc

from tongban.tools.language import knowledge
from tongban.tools.lexicons import CompactTokenizer, Sounds

# dialect forms, their guards and the stopwords are data (tools/knowledge/, tools/language.py)
_LANGUAGE = knowledge()
# keys in lower case: the text is lowered before they are applied (BB → 宝宝 would never fire)
COLLOQUIAL: dict[str, str] = {key.lower(): value for key, value in _LANGUAGE.dialect.items()}
# a rule never fires when the next character makes a standard word with its last one
# (怎么整理, 点样本): the dialect reading needs a word boundary there
_TAILS: dict[str, str] = _LANGUAGE.guards


def _pattern(key: str) -> str:
    tail = _TAILS.get(key[-1]) if COLLOQUIAL[key] != key else None
    return re.escape(key) + (f"(?![{re.escape(tail)}])" if tail else "")


_COLLOQUIAL_RE = re.compile(
    "|".join(_pattern(k) for k in sorted(COLLOQUIAL, key=len, reverse=True))
)
# anything that is not a letter, digit or CJK ideograph is noise for matching
_NOISE_RE = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_SPACES = re.compile(r"\s+")
# pypinyin's readings, its phrases read from a compact trie (tools.lexicons)
lazy_pinyin = Sounds().lazy_pinyin

# function words of questions; they carry no information about which service is meant
STOPWORDS: frozenset[str] = _LANGUAGE.stopwords


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


# OpenCC's t2s writes the Cantonese 嗰 (that) and 喎 as the rare 𠮶 and 㖞, which nobody types and
# the knowledge files (dialect.tsv, cues.tsv, answers.tsv) do not hold: they stay as written
_KEEP_CANTONESE = str.maketrans({"𠮶": "嗰", "㖞": "喎"})


def canonical(text: str) -> str:
    """NFKC (full-width → half-width), Traditional → Simplified, spaces collapsed; wording,
    case and punctuation kept. What slot extraction (dates, numbers, halls) reads."""
    text = _converter().convert(unicodedata.normalize("NFKC", text)).translate(_KEEP_CANTONESE)
    return _SPACES.sub(" ", text).strip()


def normalise(text: str, *, colloquial: bool = True) -> str:
    """`canonical`, lower case, dialect words, punctuation to single spaces: for matching."""
    text = canonical(text).lower()
    if colloquial:
        text = _COLLOQUIAL_RE.sub(lambda m: COLLOQUIAL[m.group(0)], text)
    return _NOISE_RE.sub(" ", text).strip()


def clean(text: str) -> str:
    """Light normalisation for the embedding model: NFKC and Simplified, wording untouched."""
    return _converter().convert(unicodedata.normalize("NFKC", text)).strip()


class Tokenizer:
    """jieba in search mode with the catalog's own vocabulary, private to one index.

    A private `jieba.Tokenizer` keeps item names and keywords whole (公积金, 港澳通行证)
    without touching the process-wide jieba dictionary other code may use; its dictionary is
    the compact trie all of them share (tools.lexicons), not a copy of 70 MB each.
    """

    def __init__(self, vocabulary: Iterable[str] = ()) -> None:
        self._jieba = CompactTokenizer()
        self._jieba.initialize()
        self.vocabulary: set[str] = set()
        self.generation = 0  # bumped when the vocabulary grows: cached tokens are stale
        self.add_words(vocabulary)

    def add_words(self, words: Iterable[str]) -> None:
        for phrase in words:
            for word in normalise(phrase).split():
                if len(word) >= 2 and word not in self.vocabulary:
                    self.vocabulary.add(word)
                    self._jieba.add_word(word, freq=2000)
                    self.generation += 1

    def content(self, normalised: str) -> str:
        """The text with multi-character function words (怎么办, 什么, 需要) cut out.

        What remains keeps its characters together, so a misrecognised word that jieba splits
        into single characters (被案 for 备案) still forms its syllable pairs.
        """
        out: list[str] = []
        for chunk in normalised.split():
            for token in self._jieba.cut(chunk):
                if len(token) > 1 and token in STOPWORDS:
                    out.append(" ")
                else:
                    out.append(token)
            out.append(" ")
        return " ".join("".join(out).split())

    def words(self, normalised: str) -> list[str]:
        """Content words (search mode: compounds and their parts), stopwords dropped."""
        out = []
        for chunk in normalised.split():
            for token in self._jieba.cut_for_search(chunk):
                if token.strip() and token not in STOPWORDS:
                    out.append(token)
        return out


def pinyin_syllables(normalised: str) -> list[str]:
    """Tone-less syllables of the Chinese characters, with fuzzy initials and finals."""
    syllables: list[str] = []
    for chunk in normalised.split():
        han = "".join(_HAN_RE.findall(chunk))
        syllables.extend(fuzzy_syllable(s) for s in lazy_pinyin(han))
    return syllables


@lru_cache(maxsize=4096)
def fuzzy_syllable(syllable: str) -> str:
    """The one phonetic key (模糊音): zh/z, ch/c, sh/s, n/l and -ng/-n merge, as they do in
    Guangxi Mandarin, in Cantonese speakers' Mandarin and in speech recognition."""
    for retroflex in ("zh", "ch", "sh"):
        if syllable.startswith(retroflex):
            syllable = syllable[0] + syllable[2:]
    if syllable.startswith("l"):
        syllable = "n" + syllable[1:]
    if syllable.endswith(("ing", "eng", "ang")):
        syllable = syllable[:-1]
    return syllable


@lru_cache(maxsize=8192)  # names and halls are sounded every turn; their pinyin never changes
def sound_key(text: str) -> str:
    """Space-padded fuzzy pinyin of a whole text: `sound_key(word) in sound_key(text)` finds a
    word said with a homophone, on syllable boundaries (naming items, matching halls)."""
    return " " + " ".join(fuzzy_syllable(s) for s in lazy_pinyin(text)) + " "


def pinyin_grams(normalised: str) -> list[str]:
    """Adjacent syllable pairs: word-sized sound units, so 公基金 and 公积金 share gong-ji."""
    syllables = pinyin_syllables(normalised)
    return [f"{a}-{b}" for a, b in zip(syllables, syllables[1:], strict=False)]


@lru_cache(maxsize=1)
def shared_tokenizer() -> Tokenizer:
    """One private jieba per process."""
    return Tokenizer()


def names_service_thing(normalised: str) -> bool:
    """Whether the text says a thing of government service in the thesaurus's words (上牌, 养老金,
    出生纸): as telling as the cue words that a question is about a service."""
    return bool(_LANGUAGE.expand(normalised).objects)


def official_reading(text: str) -> str:
    """The normalised text with each thesaurus word replaced by its first official term
    (老人优待证 → 老年人优待证): where an official name it means can be found literally."""
    return _LANGUAGE.reading(normalise(text))
