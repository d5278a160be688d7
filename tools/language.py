"""Language knowledge as data: dialect forms and miswritten words, the terminology thesaurus,
action words and the follow-up actions among them, stopwords, the cue phrasings that say what a
message does, the words of yes/no answers, the courtesy that opens and closes government replies,
and the things of the private sector (a bank's card, a shop's pass) that are no government service
though spoken of in the same words.

Residents say 驾照, 房产证, 长者卡 and 唔见咗; official catalogs say 机动车驾驶证, 不动产权证书,
老年人优待证 and 补领. The words live in `tools/knowledge/*.tsv` (and in any directory named by
`TONGBAN_KNOWLEDGE_DIR`, whose files add to and override the shipped ones) so an operator extends
them without touching code. Nothing here names a catalog item: it maps words to official terms,
and `expand` finds them in a question for retrieval to use. The agent's cue classes (asking for a
person, cancelling, correcting oneself…) are phrasings in `cues.tsv`, compiled here by `cue`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

SHIPPED = Path(__file__).parent / "knowledge"
ENV = "TONGBAN_KNOWLEDGE_DIR"
ANSWERS = ("yes", "no", "filler")  # what a word of a reply to a confirmation question says
_REFERENCE = re.compile(r"\{([a-z][a-z0-9_]*)\}")  # {others} in a phrasing: that cue's phrasings


class KnowledgeError(ValueError):
    """A knowledge file line that cannot be read; names the file and line."""


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    for number, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def read_table(path: Path, *, columns: int = 2) -> dict[str, tuple[str, ...]]:
    """`word<TAB>value|value…` lines; blank lines and # comments are skipped."""
    table: dict[str, tuple[str, ...]] = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != columns or not parts[0].strip():
            raise KnowledgeError(f"{path}:{number}: expected {columns} TAB-separated columns")
        key = parts[0].strip()
        values = tuple(v.strip() for v in parts[1].split("|") if v.strip())
        table[key] = values
    return table


@dataclass(frozen=True)
class Expansion:
    """What a question says in official terms: the things (objects) and what to do (actions)."""

    objects: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    said: tuple[str, ...] = ()  # the question's own words that matched
    # action words said under a negation (执照不想注销): not wanted, and not said for the
    # follow-ups a name holds either
    denied: tuple[str, ...] = ()
    # the official terms of words of two characters or more: a lone character (开, 改, 转) is
    # too weak to add search terms; it only tells the action of the name (`actions`)
    searched: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.searched)

    def text(self) -> str:
        """The official terms to search beside the question."""
        return " ".join(self.searched)


@dataclass(frozen=True)
class Knowledge:
    dialect: dict[str, str] = field(default_factory=dict)
    guards: dict[str, str] = field(default_factory=dict)
    terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    actions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    stopwords: frozenset[str] = frozenset()
    # cue class → its phrasings, regular expressions (cues.tsv); any one matching signals the cue
    cues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)  # word → yes, no or filler (answers.tsv)
    times: dict[str, str] = field(default_factory=dict)  # colloquial time word → standard (times.tsv)
    # courtesy phrases by kind, opening and closing (boilerplate.tsv): what knowledge-base retrieval leaves out
    boilerplate: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # things of the private sector and everyday life → the parties they belong to (private.tsv)
    private: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # official actions that follow on an existing thing (补领, 换发, 变更, 注销, 转入…): a resident
    # who says none of them means the item's first issue, not its follow-ups (follow_ups.txt)
    follow_ups: frozenset[str] = frozenset()

    def cue(self, name: str) -> re.Pattern[str]:
        """One cue class as a pattern: its phrasings as alternatives, in the file's order,
        letters matching in either case."""
        try:
            return self._cue_patterns[name]
        except KeyError:
            raise KnowledgeError(f"no cue {name!r} in cues.tsv") from None

    @cached_property
    def _cue_patterns(self) -> dict[str, re.Pattern[str]]:
        patterns: dict[str, re.Pattern[str]] = {}
        for name in self.cues:
            try:
                patterns[name] = re.compile(self.cue_source(name), re.IGNORECASE)
            except re.error as error:  # e.g. two phrasings naming the same group
                raise KnowledgeError(f"cue {name!r} in cues.tsv: {error}") from None
        return patterns

    def cue_source(self, name: str, _within: tuple[str, ...] = ()) -> str:
        """The cue's phrasings as one regular expression, `{other}` replaced by that cue's."""
        if name in _within:
            raise KnowledgeError(f"cue {name!r} refers to itself through {' → '.join(_within)}")
        if name not in self.cues:
            raise KnowledgeError(f"no cue {name!r} in cues.tsv (referred to by {' → '.join(_within) or 'code'})")

        def inner(match: re.Match[str]) -> str:
            return self.cue_source(match.group(1), (*_within, name))

        return "(?:" + "|".join(_REFERENCE.sub(inner, p) for p in self.cues[name]) + ")"

    @cached_property
    def _negated(self) -> re.Pattern[str]:
        """A negation (cue `negation`) at the end of the text: what an action word said next is under.
        Knowledge without the cue denies nothing."""
        if "negation" not in self.cues:
            return re.compile(r"(?!)")
        return re.compile(self.cue_source("negation") + "$", re.IGNORECASE)

    @cached_property
    def action_terms(self) -> frozenset[str]:
        """Every official action word (换领, 补发, 变更, and the follow-ups: 作废, 缴销…): what
        item names end with, and what is not their object."""
        return frozenset(a for values in self.actions.values() for a in values) | self.follow_ups

    @cached_property
    def action_order(self) -> list[str]:
        """The action words, longest first: 补换 is one action, not 补 and 换."""
        return sorted(self.action_terms, key=len, reverse=True)

    def reading(self, normalised: str) -> str:
        """The question with each thesaurus word replaced by its first official term
        (老人优待证 → 老年人优待证), so that an official name it means can be found in it."""
        out, at = [], 0
        for start, end, word in self._matches(normalised):
            if word in self.terms and self.terms[word]:
                out.append(normalised[at:start] + self.terms[word][0])
                at = end
        return "".join(out) + normalised[at:]

    @cached_property
    def _words(self) -> list[str]:
        return sorted({*self.terms, *self.actions}, key=len, reverse=True)

    def _matches(self, normalised: str) -> list[tuple[int, int, str]]:
        """Known words in the text, in order; longer words win wherever they overlap
        (个体户 over 开个, 社保卡 over 社保), whichever comes first."""
        found: list[tuple[int, int, str]] = []
        for word in self._words:
            start = normalised.find(word)
            while start >= 0:
                found.append((start, start + len(word), word))
                start = normalised.find(word, start + 1)
        taken: list[tuple[int, int, str]] = []
        for start, end, word in sorted(found, key=lambda m: (m[0] - m[1], m[0])):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, word))
        return sorted(taken)

    def private_things(self, normalised: str) -> dict[str, tuple[str, ...]]:
        """The things of the private sector a normalised question is about (信用卡, 会员卡, 快递),
        each with its parties. One said right before a thing of service in the thesaurus's words
        only names that thing's trade (快递公司 is a 公司, what a registration is about)."""
        spans = [(start, end) for start, end, word in self._matches(normalised) if self.terms.get(word)]
        service = {start for start, _ in spans}
        found: dict[str, tuple[str, ...]] = {}
        taken: list[tuple[int, int]] = []  # longer words first: 游戏账号, not 游戏 inside it
        for word in sorted(self.private, key=len, reverse=True):
            start = normalised.find(word)
            while start >= 0:
                end = start + len(word)
                if all(end <= s or start >= e for s, e in taken):
                    taken.append((start, end))
                    # nor is one inside a longer word of the thesaurus (跑外卖 is a rider's work)
                    inside = any(s <= start and end <= e and e - s > end - start for s, e in spans)
                    if end not in service and not inside:
                        found[word] = self.private[word]
                start = normalised.find(word, start + 1)
        return found

    def expand(self, normalised: str) -> Expansion:
        """The official objects and actions a normalised question mentions."""
        objects: list[str] = []
        actions: list[str] = []
        searched: list[str] = []
        taken = self._matches(normalised)
        done = _done(normalised, taken, self.actions, self.follow_ups)
        denied = _denied(normalised, taken, self.actions, self._negated)
        for start, _, word in taken:
            objects.extend(self.terms.get(word, ()))
            if start not in done | denied:
                actions.extend(self.actions.get(word, ()))
            if len(word) >= 2 and start not in done | denied:
                searched.extend((*self.terms.get(word, ()), *self.actions.get(word, ())))
        return Expansion(
            objects=tuple(dict.fromkeys(objects)), actions=tuple(dict.fromkeys(actions)),
            said=tuple(w for _, _, w in taken), searched=tuple(dict.fromkeys(searched)),
            denied=tuple(w for start, _, w in taken if start in denied),
        )


def _denied(
    normalised: str, taken: list[tuple[int, int, str]], actions: dict[str, tuple[str, ...]], negated: re.Pattern[str]
) -> set[int]:
    """Starts of the action words said right after a negation (cue `negation`): 生意不好想先停一段
    时间，执照不想注销 wants the 歇业, not the 注销 it names (#18, items21)."""
    return {start for start, _, word in taken if word in actions and negated.search(normalised[:start])}


# what follows an action word that was already done: 开了个小店, 户口迁过 (咗 reads 了)
_DONE_MARKS = "了过"


def _done(
    normalised: str, taken: list[tuple[int, int, str]], actions: dict[str, tuple[str, ...]],
    follow_ups: frozenset[str],
) -> set[int]:
    """Starts of the action words the question reports as done rather than wants done: a deed
    that starts a thing (开, 交: no follow-up among its official actions) followed at once by 了
    or 过, when another action word comes after it. 开了个小店，要去领发票 wants 领用, not the
    shop's 设立 (which drew 个体工商户注册 before 发票领用). A follow-up's cause keeps its action
    (搞丢了…报告 still means 遗失; 驾照到期了 wants 换证): what happened to a thing is why one comes.
    On sichuan-colloquial-3 (tuned on, #18) this decided sc3-024 and sc3-081 of 140."""
    acts = [(start, end, word) for start, end, word in taken if word in actions]
    return {
        start for i, (start, end, word) in enumerate(acts)
        if end < len(normalised) and normalised[end] in _DONE_MARKS and i + 1 < len(acts)
        and not any(a in follow_ups for a in actions[word])
    }


def directories() -> list[Path]:
    """The shipped knowledge, then the operator's directories (later ones override)."""
    extra = [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]
    return [SHIPPED, *extra]


def read_cues(path: Path, into: dict[str, tuple[str, ...]]) -> None:
    """`cue<TAB>phrasing` lines: each adds a phrasing (a regular expression) to its cue."""
    for number, line in _lines(path):
        name, tab, phrasing = line.partition("\t")
        if not tab or not name.strip() or not phrasing.strip():
            raise KnowledgeError(f"{path}:{number}: expected a cue name, a TAB and a phrasing")
        try:
            re.compile(_REFERENCE.sub("", phrasing.strip()))
        except re.error as error:
            raise KnowledgeError(f"{path}:{number}: not a regular expression: {error}") from None
        into[name.strip()] = (*into.get(name.strip(), ()), phrasing.strip())


def read_answers(path: Path) -> dict[str, str]:
    """`word<TAB>yes|no|filler` lines."""
    table = read_table(path)
    for number, line in _lines(path):
        word, _, label = line.partition("\t")
        if label.strip() not in ANSWERS:
            raise KnowledgeError(f"{path}:{number}: {word} must be one of {', '.join(ANSWERS)}")
    return {word: labels[0] for word, labels in table.items()}


def load(dirs: Iterable[Path]) -> Knowledge:
    """Merge the knowledge files of these directories; a missing file contributes nothing.
    Cue phrasings add up (an operator's cues.tsv adds phrasings); other entries override."""
    dialect: dict[str, str] = {}
    guards: dict[str, str] = {}
    terms: dict[str, tuple[str, ...]] = {}
    actions: dict[str, tuple[str, ...]] = {}
    stopwords: set[str] = set()
    follow_ups: set[str] = set()
    cues: dict[str, tuple[str, ...]] = {}
    answers: dict[str, str] = {}
    times: dict[str, str] = {}
    boilerplate: dict[str, tuple[str, ...]] = {}
    private: dict[str, tuple[str, ...]] = {}
    for directory in dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise KnowledgeError(f"knowledge directory {directory} does not exist")
        if (path := directory / "dialect.tsv").exists():
            dialect.update({k: "".join(v) for k, v in read_table(path).items()})
        if (path := directory / "typos.tsv").exists():  # miswritten forms read like dialect forms
            dialect.update({k: "".join(v) for k, v in read_table(path).items()})
        if (path := directory / "dialect_guards.tsv").exists():
            guards.update({k: "".join(v) for k, v in read_table(path).items()})
        if (path := directory / "terms.tsv").exists():
            terms.update(read_table(path))
        if (path := directory / "actions.tsv").exists():
            actions.update(read_table(path))
        if (path := directory / "stopwords.txt").exists():
            stopwords.update(w for _, line in _lines(path) for w in line.split())
        if (path := directory / "follow_ups.txt").exists():
            follow_ups.update(w for _, line in _lines(path) for w in line.split())
        if (path := directory / "cues.tsv").exists():
            read_cues(path, cues)
        if (path := directory / "answers.tsv").exists():
            answers.update(read_answers(path))
        if (path := directory / "times.tsv").exists():
            times.update({k: "".join(v) for k, v in read_table(path).items()})
        if (path := directory / "boilerplate.tsv").exists():  # an operator's phrases add to the shipped ones
            for kind, phrases in read_table(path).items():
                boilerplate[kind] = tuple(dict.fromkeys((*boilerplate.get(kind, ()), *phrases)))
        if (path := directory / "private.tsv").exists():
            private.update(read_table(path))
    lang = Knowledge(dialect, guards, terms, actions, frozenset(stopwords), cues, answers, times, boilerplate,
                     private, frozenset(follow_ups))
    lang._cue_patterns  # noqa: B018  (a phrasing that refers to no cue, or loops, fails here, not mid-turn)
    return lang


@lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    """The process's knowledge, read once (restart, or `knowledge.cache_clear()`, to reload)."""
    return load(directories())


def cue(name: str) -> re.Pattern[str]:
    """The process's cue class `name` (tools/knowledge/cues.tsv), compiled once."""
    return knowledge().cue(name)
