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

import jieba
import opencc
from pypinyin import lazy_pinyin

# General colloquial and dialect forms → standard written Chinese. Cantonese (粤语, widely
# spoken in Guangxi), Southwestern Mandarin (桂柳话) and northern colloquial words. Entries
# mapping to themselves protect standard compounds from a single-character rule
# (关系 must not become 关是).
COLLOQUIAL: dict[str, str] = {
    # Cantonese
    "点样": "怎么", "点办": "怎么办", "点整": "怎么办", "点搞": "怎么办", "点解": "为什么", "点算": "怎么办",
    "乜嘢": "什么", "咩嘢": "什么", "咩": "什么", "乜": "什么", "嘢": "东西",
    "唔该": "请", "唔见咗": "丢了", "唔见": "丢了", "唔": "不", "冇": "没有",
    "系咪": "是不是", "系": "是", "佢哋": "他们", "佢": "他", "嘅": "的", "喺": "在",
    "咗": "了", "嚟": "来", "攞": "拿", "睇": "看", "揾": "找", "畀": "给",
    "边度": "哪里", "边个": "谁", "几时": "什么时候", "而家": "现在",
    "咁": "这么", "噉": "这样", "嗰": "那", "呢个": "这个", "啲": "些",
    "使唔使": "需不需要", "要唔要": "要不要", "得唔得": "行不行", "可唔可以": "可不可以",
    # Southwestern Mandarin / northern colloquial
    "咋整": "怎么办", "咋办": "怎么办", "咋弄": "怎么办", "咋搞": "怎么办", "咋": "怎么",
    "怎么整": "怎么办", "怎么弄": "怎么办", "怎么搞": "怎么办", "怎样弄": "怎么办",
    "啷个": "怎么", "哪门": "怎么", "么子": "什么", "啥子": "什么",
    "啥": "什么", "干嘛": "干什么", "整个证": "办个证", "整证": "办证", "搞证": "办证",
    # standard compounds the rules above would damage
    "关系": "关系", "联系": "联系", "系统": "系统", "体系": "体系", "维系": "维系",
    "派系": "派系", "直系": "直系", "旁系": "旁系", "系列": "系列", "院系": "院系",
    "系数": "系数", "世系": "世系", "整个": "整个", "整理": "整理", "整改": "整改",
    "网点": "网点", "地点": "地点", "站点": "站点", "重点": "重点", "考点": "考点",
}
# a rule never fires when the next character makes a standard word with its last one
# (怎么整理, 点样本): the dialect reading needs a word boundary there
_TAILS = {"整": "理改齐顿治合数", "系": "统列数", "弄": "堂", "搞": "笑", "样": "本品"}



def _pattern(key: str) -> str:
    tail = _TAILS.get(key[-1]) if COLLOQUIAL[key] != key else None
    return re.escape(key) + (f"(?![{tail}])" if tail else "")


_COLLOQUIAL_RE = re.compile(
    "|".join(_pattern(k) for k in sorted(COLLOQUIAL, key=len, reverse=True))
)
# anything that is not a letter, digit or CJK ideograph is noise for matching
_NOISE_RE = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# function words of questions; they carry no information about which service is meant
_STOPWORDS = """的 了 吗 呢 吧 啊 呀 嘛 么 和 与 及 或 在 是 我 你 他 她 我们 你们 他们 想 要 能 可以 会
    怎么 怎么办 怎样 如何 什么 哪些 哪里 哪儿 哪 需要 需 请问 请 问 一下 一个 这个 那个 这 那 有
    没有 不 吗 去 到 给 把 被 让 就 还 也 都 又 该 应该 得 着 过 个 些 办理 办"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORDS.split())


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise(text: str, *, colloquial: bool = True) -> str:
    """NFKC, Traditional→Simplified, lower case, dialect words, punctuation to single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _converter().convert(text).lower()
    if colloquial:
        text = _COLLOQUIAL_RE.sub(lambda m: COLLOQUIAL[m.group(0)], text)
    return _NOISE_RE.sub(" ", text).strip()


def clean(text: str) -> str:
    """Light normalisation for the embedding model: NFKC and Simplified, wording untouched."""
    return _converter().convert(unicodedata.normalize("NFKC", text)).strip()


class Tokenizer:
    """jieba in search mode with the catalog's own vocabulary, private to one index.

    A private `jieba.Tokenizer` keeps item names and keywords whole (公积金, 港澳通行证)
    without touching the process-wide jieba dictionary other code may use.
    """

    def __init__(self, vocabulary: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
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
        syllables.extend(_fuzzy(s) for s in lazy_pinyin(han))
    return syllables


def _fuzzy(syllable: str) -> str:
    """Merge sounds southern speakers and speech recognisers confuse (模糊音)."""
    for retroflex in ("zh", "ch", "sh"):
        if syllable.startswith(retroflex):
            syllable = syllable[0] + syllable[2:]
    if syllable.startswith("l"):
        syllable = "n" + syllable[1:]
    if syllable.endswith("ng") and syllable[-3] in "ei":
        syllable = syllable[:-1]
    return syllable


def pinyin_grams(normalised: str) -> list[str]:
    """Adjacent syllable pairs: word-sized sound units, so 公基金 and 公积金 share gong-ji."""
    syllables = pinyin_syllables(normalised)
    return [f"{a}-{b}" for a, b in zip(syllables, syllables[1:], strict=False)]


@lru_cache(maxsize=1)
def shared_tokenizer() -> Tokenizer:
    """One private jieba per process (loading its dictionary takes ~0.4 s)."""
    return Tokenizer()
