"""Normalisation: what residents type must meet what the catalog says."""

from __future__ import annotations

from tongban.tools.text import Tokenizer, canonical, normalise, pinyin_grams, pinyin_syllables


def test_full_width_and_traditional_become_plain_simplified() -> None:
    assert normalise("ＡＢＣ１２３") == "abc123"
    assert normalise("身份證換領") == "身份证换领"
    assert normalise("異地就醫，備案！") == "异地就医 备案"


def test_cantonese_and_colloquial_words() -> None:
    assert normalise("點樣辦結婚登記") == "怎么办结婚登记"
    assert normalise("身份证唔见咗") == "身份证丢了"
    assert normalise("要咩材料") == "要什么材料"
    assert normalise("冇工作") == "没有工作"
    assert normalise("咋整") == "怎么办"
    assert normalise("系唔系要预约") == "是不是要预约"


def test_cantonese_characters_stay_as_typed() -> None:
    # OpenCC would write 嗰 and 喎 as rare variants no knowledge file holds
    assert canonical("嗰个预约係喎") == "嗰个预约系喎"
    assert normalise("嗰个预约") == "那个预约"


def test_standard_words_survive_the_dialect_rules() -> None:
    assert normalise("医保关系转移") == "医保关系转移"
    assert normalise("联系电话") == "联系电话"
    assert normalise("怎么整理材料") == "怎么整理材料"
    assert normalise("去哪个网点办理") == "去哪个网点办理"


def test_homophones_share_pinyin() -> None:
    assert pinyin_syllables("公基金") == pinyin_syllables("公积金")
    assert pinyin_grams("被案") == pinyin_grams("备案")
    assert pinyin_grams("身分证") == pinyin_grams("身份证")
    # southern accents: n/l and front/back nasals merge
    assert pinyin_syllables("牛奶") == pinyin_syllables("刘来")
    assert pinyin_grams("公积金") != pinyin_grams("身份证")


def test_tokenizer_keeps_catalog_terms_and_drops_question_words() -> None:
    tokenizer = Tokenizer(["港澳通行证"])
    words = tokenizer.words(normalise("怎么办理港澳通行证？"))
    assert "港澳通行证" in words
    assert "怎么" not in words
    assert tokenizer.content("异地就医被案怎么办") == "异地就医被案"


def test_repeated_queries_reuse_their_embedding() -> None:
    import numpy as np

    from tongban.tools.embeddings import CachedQueries

    class Counting:
        name, dim, calls = "counting", 2, 0

        def embed_queries(self, texts: list[str]) -> np.ndarray:
            Counting.calls += 1
            return np.ones((len(texts), 2), dtype=np.float32)

        def embed_passages(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 2), dtype=np.float32)

    cached = CachedQueries(Counting(), size=2)
    for text in ("要带什么材料", "要带什么材料", "在哪里办", "要带什么材料", "多少钱", "在哪里办"):
        cached.embed_queries([text])
    assert Counting.calls == 4  # two repeats served from memory; the oldest entry was evicted
    assert cached.name == "counting" and cached.dim == 2
