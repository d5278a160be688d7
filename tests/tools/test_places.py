"""Place names and their provinces (tools/knowledge/places.tsv): which region a message is about."""

from __future__ import annotations

from tongban.tools.places import catalog_region, places

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


def test_the_catalogs_own_departments_are_home() -> None:
    """A catalog of another province's bureaus (an eval on Sichuan items beside Guangxi halls, or
    a hall list not yet filled in) answers questions about its own region."""
    from tongban.agent.brains.base import BrainContext
    from tongban.agent.brains.offline import other_region
    from tongban.agent.brains.slots import HallRef

    assert catalog_region(["南充市人力资源和社会保障局", "区经信局", "南充市公安局"]) == {"四川省"}
    halls = [HallRef(1, "南宁市民中心", "南宁市")]

    def ctx(departments: list[str]) -> BrainContext:
        return BrainContext(index=None, halls=halls, now=None, verified=False, elderly=False,  # type: ignore[arg-type]
                            region=catalog_region(departments))

    text = "在南充上班的时候交了社保，失业金怎么领"
    assert other_region(text, ctx(["南宁市人力资源和社会保障局"]), None, None)
    assert not other_region(text, ctx(["南充市人力资源和社会保障局", "区民政局"]), None, None)


def test_a_stay_elsewhere_with_our_insurance_is_not_another_regions_matter() -> None:
    """A question naming another province is about our item when one of the first hits serves
    residents staying elsewhere (异地…备案), though another item ranked first (#18, items19)."""
    from tongban.agent.brains.base import BrainContext
    from tongban.agent.brains.offline import other_region
    from tongban.agent.brains.slots import HallRef
    from tongban.tools.retrieval import Hit

    def hit(name: str) -> Hit:
        return Hit(item_id=0, code=name, name=name, department="", legal_basis=(), passage="", score=1.0)

    context = BrainContext(index=None, halls=[HallRef(1, "南宁市民中心", "南宁市")], now=None,  # type: ignore[arg-type]
                           verified=False, elderly=False)
    text = "我爸妈搬去杭州养老，在那边住院医保怎么用"
    first = hit("基本医疗保险定点医疗机构费用结算")
    assert other_region(text, context, first, None)
    assert other_region(text, context, first, None, [first, hit("居住证办理")])
    assert not other_region(text, context, first, None, [first, hit("异地长期居住人员备案")])
