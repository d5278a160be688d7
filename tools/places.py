"""Which region a message talks about, so that another region's matters do not get this
operator's item card.

A resident who asks 上海的居住证怎么办 asks about Shanghai's rules: the operator's 居住证 guide
would be a confident wrong answer. Place names and their provinces are data
(`tools/knowledge/places.tsv`, extended by an operator's knowledge directories); the operator's
own region is the province of its halls' cities. Names are read leftmost-longest, so 广西安全
reads 广西, not 西安.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from tongban.tools.language import directories, read_table
from tongban.tools.text import canonical

CITY_SUFFIX = "市"


@dataclass(frozen=True)
class Places:
    """Place name → its province, and the pattern that finds them in a text."""

    province: dict[str, str]
    pattern: re.Pattern[str] | None

    def named(self, text: str) -> list[str]:
        """The provinces of the places a text names, in order, repeats kept."""
        if self.pattern is None:
            return []
        return [self.province[m.group(0)] for m in self.pattern.finditer(canonical(text))]

    def of(self, city: str) -> str | None:
        """The province of a hall's city (南宁市 → 广西壮族自治区); None when not listed."""
        city = canonical(city).strip()
        return self.province.get(city) or self.province.get(city.removesuffix(CITY_SUFFIX))

    def elsewhere(self, text: str, home: Iterable[str]) -> str | None:
        """The first other province the text names when it names no place of `home` (provinces);
        None when it names none, names home too, or home is unknown (nothing to compare with)."""
        home = set(home)
        if not home:
            return None
        named = self.named(text)
        if not named or any(p in home for p in named):
            return None
        return named[0]


def load_places() -> Places:
    """places.tsv of every knowledge directory, later ones overriding a name."""
    province: dict[str, str] = {}
    for directory in directories():
        path = directory / "places.tsv"
        if path.exists():
            for name, others in read_table(path).items():
                for word in (name, *others):
                    province[canonical(word)] = name
    names = sorted(province, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, names))) if names else None
    return Places(province, pattern)


@lru_cache(maxsize=1)
def places() -> Places:
    """The process's places, read once."""
    return load_places()


def catalog_region(departments: Iterable[str]) -> frozenset[str]:
    """The provinces a catalog's own departments name (广安市公安局 → 四川省): the catalog is the
    operator's, so its region is home even before the hall list says so."""
    known = places()
    return frozenset(p for d in set(departments) for p in known.named(d))
