"""The public item pages that SMS replies link to."""

from __future__ import annotations


async def test_an_item_page_shows_the_guide(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    page = await client.get("/items/450000-GA-0001")
    assert page.status == 200
    html = await page.text()
    for part in ("居民身份证换领", "居民身份证法", "申请材料", "南宁市民中心", "工本费20元"):
        assert part in html
    assert "<script" not in html


async def test_unknown_items_are_not_found(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    assert (await client.get("/items/<script>")).status == 404
