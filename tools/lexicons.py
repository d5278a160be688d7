"""jieba's word frequencies and pypinyin's phrase readings, held in compact tries.

Both libraries keep their dictionaries as Python objects: jieba 349,000 words and every prefix
of them (~70 MB), pypinyin 47,000 phrases as lists of lists (~45 MB), most of the idle
server's memory. The same entries in MARISA tries take ~4 MB, memory-mapped, and answer
exactly the lookups the libraries make: tokens and sounds do not change. They are built from
the libraries' own files and named by those files' contents: the package ships them
(`python -m tongban.tools.prebuilt`), and another library version's are built once into the
temp dir (the data dir's, like jieba's own cache).
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jieba
import marisa_trie

# pypinyin's documented switches, set before its first import: it then skips loading its
# phrases as Python objects (`Sounds` below reads the same phrases from a trie) and keeps no
# second copy of its dictionaries for custom entries, which tongban never adds.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")

import pypinyin  # noqa: E402  (after its switch)
import pypinyin.core  # noqa: E402
from pypinyin.constants import RE_HANS  # noqa: E402
from pypinyin.converter import DefaultConverter  # noqa: E402
from pypinyin.seg.simpleseg import simple_seg  # noqa: E402

_BUILDING = threading.RLock()
WORDS, FREQS, PHRASES = "words.marisa", "freqs.u32", "phrases.marisa"
PACKAGED = Path(__file__).resolve().with_name("prebuilt_lexicons")


def _name(source: Path, kind: str) -> str:
    return f"{kind}-{hashlib.sha256(source.read_bytes()).hexdigest()[:16]}"


def _cached(source: Path, kind: str, build: Callable[[Path], None]) -> Path:
    """The folder `build` makes from `source`: the package's, else one made once (atomically)
    in the temp dir."""
    name = _name(source, kind)
    if (PACKAGED / name).is_dir():
        return PACKAGED / name
    path = Path(tempfile.gettempdir()) / f"tongban-{name}"
    with _BUILDING:
        if not path.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=f".tongban-{kind}-", dir=path.parent))
            try:
                build(tmp)
                os.replace(tmp, path)
            except OSError:
                if not path.is_dir():  # not another process that built it first
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return path


# ---------------------------------------------------------------------- jieba


def _jieba_source() -> Path:
    return Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)


def _build_words(folder: Path) -> None:
    """jieba's prefix dictionary, as jieba builds it (every word and each prefix of it, a
    prefix at frequency 0; the total counts a repeated word twice), as a trie of the keys
    (words.marisa) and the frequencies by the trie's key ids after the total (freqs.u32)."""
    with _jieba_source().open("rb") as lines:
        frequencies, total = jieba.Tokenizer.gen_pfdict(lines)
    trie = marisa_trie.Trie(frequencies)
    by_id = array.array("I", bytes(4 * len(trie)))
    for key, freq in frequencies.items():
        by_id[trie[key]] = freq
    trie.save(str(folder / WORDS))
    (folder / FREQS).write_bytes(array.array("Q", [total]).tobytes() + by_id.tobytes())


class WordFrequencies:
    """jieba's `FREQ` as jieba reads it (a word's frequency, 0 for a prefix of a word, absent
    otherwise) from the trie; words added at run time (the catalog's) in a small dict over it."""

    def __init__(self, trie: marisa_trie.Trie, freqs: array.array) -> None:  # type: ignore[type-arg]
        self._trie = trie
        self._freqs = freqs
        self._added: dict[str, int] = {}

    def get(self, key: str, default: Any = None) -> Any:
        found = self._added.get(key)
        if found is not None:
            return found
        found = self._trie.get(key)
        return default if found is None else self._freqs[found]

    def __contains__(self, key: object) -> bool:
        return key in self._added or key in self._trie

    def __getitem__(self, key: str) -> int:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return int(found)

    def __setitem__(self, key: str, value: int) -> None:
        self._added[key] = value


@lru_cache(maxsize=1)
def _words() -> tuple[marisa_trie.Trie, array.array, int]:  # type: ignore[type-arg]
    """The trie (memory-mapped), the frequencies and the total, read once per process."""
    folder = _cached(_jieba_source(), "jieba", _build_words)
    trie = marisa_trie.Trie()
    trie.mmap(str(folder / WORDS))
    data = (folder / FREQS).read_bytes()
    return trie, array.array("I", data[8:]), array.array("Q", data[:8])[0]


class CompactTokenizer(jieba.Tokenizer):
    """A private `jieba.Tokenizer` whose dictionary is the shared trie, not a 70 MB dict."""

    def initialize(self, dictionary: str | None = None) -> None:
        if dictionary:
            raise ValueError("the compact tokenizer reads jieba's default dictionary only")
        with self.lock:
            if self.initialized:
                return
            trie, freqs, total = _words()
            self.FREQ = WordFrequencies(trie, freqs)
            self.total = total
            self.initialized = True

    def get_DAG(self, sentence: str) -> dict[int, list[int]]:  # noqa: N802  (jieba's name)
        """jieba's own DAG (each start maps to the ends of the words beginning there, or to
        itself), with one trie lookup per fragment where jieba makes two."""
        self.check_initialized()
        get = self.FREQ.get
        dag: dict[int, list[int]] = {}
        size = len(sentence)
        for start in range(size):
            ends: list[int] = []
            end = start
            while end < size:
                freq = get(sentence[start:end + 1])
                if freq is None:  # not even a prefix of a word: no longer word starts here
                    break
                if freq:
                    ends.append(end)
                end += 1
            dag[start] = ends or [start]
        return dag


# ---------------------------------------------------------------------- pypinyin


def _phrases_source() -> Path:
    return Path(pypinyin.__file__).with_name("phrases_dict.json")


def _build_phrases(folder: Path) -> None:
    """pypinyin's phrases with the first reading of each character (what a lazy reading
    takes), and every shorter prefix of a phrase mapped to nothing: one lookup tells a phrase,
    a prefix of one, or neither (phrases.marisa)."""
    phrases: dict[str, list[list[str]]] = json.loads(_phrases_source().read_text(encoding="utf-8"))
    entries: dict[str, bytes] = {}
    for phrase, readings in phrases.items():
        entries[phrase] = " ".join(reading[0] for reading in readings).encode()
        for end in range(1, len(phrase)):
            entries.setdefault(phrase[:end], b"")
    marisa_trie.BytesTrie(entries.items()).save(str(folder / PHRASES))


@lru_cache(maxsize=1)
def _phrases() -> marisa_trie.BytesTrie:
    trie = marisa_trie.BytesTrie()
    trie.mmap(str(_cached(_phrases_source(), "pinyin", _build_phrases) / PHRASES))
    return trie


class _PhraseConverter(DefaultConverter):
    """pypinyin's converter with its phrases read from the trie; characters outside any
    phrase go the library's own way (its single-character dictionary)."""

    def _phrase_pinyin(self, phrase: str, style: Any, heteronym: bool, errors: Any, strict: bool) -> list[list[str]]:
        found = _phrases().get(phrase)
        if found and found[0]:
            return [[reading] for reading in found[0].decode().split(" ")]
        return super()._phrase_pinyin(phrase, style, heteronym, errors, strict)


class Sounds(pypinyin.core.Pinyin):
    """`lazy_pinyin` as pypinyin gives it with its phrase dictionary: text cut into runs of
    Chinese characters and the rest, each run cut into phrases by forward maximum matching
    (pypinyin's strict mmseg), phrases read as the dictionary says."""

    def __init__(self) -> None:
        super().__init__(converter=_PhraseConverter())

    def get_seg(self, **kwargs: Any) -> Callable[[str], list[str]]:
        return self._segments

    def _segments(self, text: str) -> list[str]:
        out: list[str] = []
        for run in simple_seg(text):
            if RE_HANS.match(run):
                out.extend(_cut(run))
            else:
                out.append(run)
        return out


def _cut(remain: str) -> Iterator[str]:
    """pypinyin's `mmseg.Seg(no_non_phrases=True).cut`: the longest phrase at each place,
    else one character; a run that is only the start of a phrase goes character by character."""
    phrases = _phrases()
    while remain:
        longest = 0
        for index in range(len(remain)):
            found = phrases.get(remain[:index + 1])
            if found is None:  # not the start of any phrase: take what was matched
                if longest:
                    yield remain[:longest]
                    remain = remain[longest:]
                else:
                    yield remain[0]
                    remain = remain[1:]
                break
            if found[0]:
                longest = index + 1
        else:
            if longest:
                yield remain[:longest]
                remain = remain[longest:]
            else:
                yield from remain
                break


def package(target: Path = PACKAGED) -> list[str]:
    """Build the installed libraries' dictionaries into the package (replacing older ones)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    built = []
    for source, kind, build in ((_jieba_source(), "jieba", _build_words), (_phrases_source(), "pinyin", _build_phrases)):
        folder = target / _name(source, kind)
        folder.mkdir()
        build(folder)
        built.append(folder.name)
    return built
