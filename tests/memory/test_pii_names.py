"""A name a resident introduces in free text (我叫…, 我是…，, 姓名：…) is masked like a phone or an ID
number wherever free text is masked; words that only look like one after 我是 or 姓名 are not.

Phrasings written for these tests, apart from the evaluation sets."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from tongban.channels.console.cards import masker
from tongban.memory.pii import PiiMaskingFilter, find_names, mask_names, mask_text, name_words
from tongban.memory.residents import Identity
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store


@pytest.mark.parametrize(("said", "masked"), [
    ("你好，我叫蒙丽萍，低保怎么申请", "你好，我叫蒙**，低保怎么申请"),
    ("我叫黎强想问下医保的事", "我叫黎*想问下医保的事"),
    ("我是韦振华，想问一下老年证", "我是韦**，想问一下老年证"),
    ("我是潘敏", "我是潘*"),
    ("我系梁家豪，想问下护照点办", "我系梁**，想问下护照点办"),
    ("本人姓名：卢志勇", "本人姓名：卢**"),
    ("本人陆秀兰，申请残疾证", "本人陆**，申请残疾证"),
    ("姓名 覃建国 身份证要补办", "姓名 覃** 身份证要补办"),
    ("我的名字叫做廖春燕", "我的名字叫做廖**"),
    ("我名字是司马文博", "我名字是司***"),
    ("我姓莫，叫小红，想办居住证", "我姓莫，叫**，想办居住证"),
    ("我姓农名海", "我姓农名*"),
    ("我妈叫岑桂英，她的社保卡丢了", "我妈叫岑**，她的社保卡丢了"),
    ("申请人：甘雪梅", "申请人：甘**"),
    ("我是班丽的家属，想问下", "我是班*的家属，想问下"),
])
def test_a_name_the_resident_introduces_is_masked(said: str, masked: str) -> None:
    assert mask_names(said) == masked
    assert mask_text(said) == masked


@pytest.mark.parametrize("said", [
    "我是低保户，想问补贴什么时候发",
    "我是张家港的，在南宁上班",
    "我是个体户要交社保吗",
    "我姓名都写错了怎么改",
    "我叫车去医院可以报销吗",
    "我叫车",
    "我是老师",
    "我是王老师，学生的学籍怎么转",
    "我是房东，租客的居住证要我签字吗",
    "我是农民，能交城乡医保吗",
    "我是高中生能办身份证吗",
    "我是党员，组织关系怎么转",
    "我是车主，违章怎么处理",
    "我是武鸣的，能在南宁办吗",
    "我是莫家村人",
    "本人不能到场可以代办吗",
    "本人申请需要带什么",
    "姓名变更要去哪里办",
    "姓名和身份证对不上",
    "我叫不出那个证的名字",
    "身份证到期了怎么换",
    "我老婆叫我来问一下",
    "我姓王",
])
def test_words_that_only_look_like_a_name_stay_as_written(said: str) -> None:
    assert find_names(said) == []
    assert mask_text(said) == said


def test_masking_is_idempotent_and_keeps_numbers_masked_too() -> None:
    said = "我叫黄丽华，电话13977125508，身份证450102199001011231"
    once = mask_text(said)
    assert once == "我叫黄**，电话139****5508，身份证4501**********1231"
    assert mask_text(once) == once


def test_the_console_masker_masks_a_typed_name_and_the_name_on_record() -> None:
    mask = masker(Identity(name="韦秀英"))
    assert mask("我是蓝天明，替韦秀英问一下") == "我是蓝**，替韦**问一下"
    assert masker(Identity())("我叫凌志远") == "我叫凌**"  # an anonymous resident: nothing on record


@pytest.mark.logs_personal_data  # the masking filter is shown a clear name on purpose
def test_log_records_mask_a_typed_name(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tongban.test.names")
    caplog.handler.addFilter(PiiMaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("unplaced question: %s", "我叫欧阳晓峰，想问公积金")
    assert "欧阳晓峰" not in caplog.text and "我叫欧***，想问公积金" in caplog.text


def test_the_name_data_is_well_formed() -> None:
    words = name_words()
    assert "欧阳" in words.surnames and words.surnames.index("欧阳") < words.surnames.index("欧")
    assert all(len(s) in (1, 2) for s in words.surnames)
    assert all(len(c) == 1 for c in words.given)
    # a word that names nobody is needed only where it begins with a family name
    assert all(any(w.startswith(s) for s in words.surnames) for w in words.not_names)
    assert any(cue.given_only for cue in words.cues) and any(cue.weak for cue in words.cues)


def test_questions_kept_before_the_fix_are_masked_by_the_migration(tmp_path: Path) -> None:
    from alembic import command

    from tongban.memory import migrate

    store = Store.from_settings(MemorySettings(env="test", data_dir=tmp_path, secret_key="test-secret-key-0123456789"))
    config = migrate.alembic_config(store.engine)
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
        for said in ("我叫梁秀英，摆摊要办什么证", "我是党员，组织关系怎么转"):
            connection.execute(text(
                "INSERT INTO question_log (at, kind, text_masked, resident_key, channel) "
                "VALUES (:at, 'low_confidence', :said, 'k', 'web')"), {"at": dt.datetime(2026, 12, 1), "said": said})
    store.migrate()
    with store.engine.connect() as connection:
        kept = sorted(r[0] for r in connection.execute(text("SELECT text_masked FROM question_log")))
    store.dispose()
    assert kept == ["我叫梁**，摆摊要办什么证", "我是党员，组织关系怎么转"]
