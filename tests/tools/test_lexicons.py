"""The compact dictionaries give exactly the tokens and sounds the libraries' own give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jieba
import pytest

from tongban.tools import lexicons
from tongban.tools.lexicons import CompactTokenizer, Sounds

DEMO = Path(lexicons.__file__).resolve().parent.parent / "memory" / "demo" / "catalog.jsonl"
SENTENCES = [
    "身份证到期了怎么换", "我想预约明天上午去南宁市民中心换身份证", "公积金提取需要什么材料",
    "重庆银行行长说还款要去柜台", "长大以后去银行办理单县的户口", "朝阳区的音乐厅在哪里", "被案怎么办",
    "异地就医备案，ABC123 和 ５号窗口", "港澳通行证续签", "",
]


def _texts() -> list[str]:
    """The demo catalog's own texts and residents' sentences, polyphones among them."""
    rows = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line.strip()]
    return SENTENCES + [json.dumps(row, ensure_ascii=False) for row in rows]


def test_compact_tokenizer_cuts_as_jieba_does_with_added_words() -> None:
    stock, compact = jieba.Tokenizer(), CompactTokenizer()
    stock.initialize()
    compact.initialize()
    for tokenizer in (stock, compact):
        for word in ("港澳通行证续签", "被案", "身份"):
            tokenizer.add_word(word, freq=2000)
    assert compact.total == stock.total
    for text in _texts():
        assert list(compact.cut(text)) == list(stock.cut(text)), text
        assert list(compact.cut_for_search(text)) == list(stock.cut_for_search(text)), text
    assert "身份证" in compact.FREQ and "身份证到" not in compact.FREQ
    assert compact.FREQ["身份"] == 2000 and compact.FREQ.get("公积") == stock.FREQ.get("公积")


def test_sounds_read_phrases_as_pypinyin_with_its_phrase_dictionary() -> None:
    texts = _texts()
    env = {k: v for k, v in os.environ.items() if k != "PYPINYIN_NO_PHRASES"}
    stock = subprocess.run(
        [sys.executable, "-c", "import json, sys\nfrom pypinyin import lazy_pinyin\n"
         "print(json.dumps([lazy_pinyin(t) for t in json.load(sys.stdin)]))"],
        input=json.dumps(texts), env=env, capture_output=True, text=True, check=True,
    )
    expected = json.loads(stock.stdout)
    sounds = Sounds()
    assert [sounds.lazy_pinyin(t) for t in texts] == expected
    assert sounds.lazy_pinyin("银行行长") == ["yin", "hang", "hang", "zhang"]  # phrases decide polyphones


def test_the_package_ships_the_installed_libraries_dictionaries() -> None:
    for source, kind in ((lexicons._jieba_source(), "jieba"), (lexicons._phrases_source(), "pinyin")):
        assert (lexicons.PACKAGED / lexicons._name(source, kind)).is_dir(), (
            f"{kind}'s dictionary changed: run python -m tongban.tools.prebuilt")


def test_a_dictionary_is_built_once_and_again_when_its_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    source = tmp_path / "words.txt"
    source.write_text("一 1\n", encoding="utf-8")
    built: list[str] = []

    def build(folder: Path) -> None:
        built.append(source.read_text(encoding="utf-8"))
        (folder / "out").write_text(built[-1], encoding="utf-8")

    first = lexicons._cached(source, "test", build)
    assert lexicons._cached(source, "test", build) == first
    source.write_text("一 2\n", encoding="utf-8")
    second = lexicons._cached(source, "test", build)
    assert second != first and (second / "out").read_text(encoding="utf-8") == "一 2\n"
    assert built == ["一 1\n", "一 2\n"]
