"""Place names and their provinces (tools/knowledge/places.tsv): which region a message is about."""

from __future__ import annotations

from tongban.tools.places import places

GUANGXI = "广西壮族自治区"


def test_a_hall_city_gives_the_operators_province() -> None:
    assert places().of("柳州市") == GUANGXI
    assert places().of("桂林") == GUANGXI
    assert places().of("不存在的城市") is None


def test_a_city_of_another_province_is_elsewhere() -> None:
    assert places().elsewhere("在杭州办的社保卡丢了怎么补", {GUANGXI}) == "浙江省"
    # read in simplified characters
    assert places().elsewhere("澳門的通行證點樣續期", {GUANGXI}) == "澳门特别行政区"


def test_naming_home_too_is_not_elsewhere() -> None:
    assert places().elsewhere("户口从成都迁回玉林要什么材料", {GUANGXI}) is None


def test_names_are_read_leftmost_longest() -> None:
    assert places().named("广西安全生产许可") == [GUANGXI]  # not 西安
    assert places().named("上海南站附近") == ["上海市"]  # not 海南


def test_no_place_or_no_home_region_is_never_elsewhere() -> None:
    assert places().elsewhere("居住证过期了怎么办", {GUANGXI}) is None
    assert places().elsewhere("在杭州办的社保卡丢了怎么补", set()) is None
