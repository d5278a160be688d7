"""The learning loop (#18): staff correct a handoff's question to its item, and every learned
phrase is listed with who, when and where from, and can be removed again."""

from __future__ import annotations

from tests.helpers.console import ask, queue, sign_in

FOOD = "450000-SJ-0004"  # 食品经营许可证办理
SAID = "推车卖早点"


async def test_a_correction_on_a_handoff_card_lifts_the_item_and_is_listed(
    aiohttp_client, app, store,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    resident = await aiohttp_client(app)
    await ask(resident, f"我想{SAID}，要办什么")
    await ask(resident, "转人工")
    staff = await aiohttp_client(app)
    headers = await sign_in(staff, "wangfang")
    [card] = await queue(staff)

    wrong = await staff.post(f"/console/api/conversations/{card['handoff_id']}/correct", headers=headers,
                             json={"item_code": "450000-XX-9999", "phrase": SAID})
    assert wrong.status == 404
    personal = await staff.post(f"/console/api/conversations/{card['handoff_id']}/correct", headers=headers,
                                json={"item_code": FOOD, "phrase": "13812345678"})
    assert personal.status == 400  # a phone number is never learned
    fixed = await staff.post(f"/console/api/conversations/{card['handoff_id']}/correct", headers=headers,
                             json={"item_code": FOOD, "phrase": SAID})
    assert fixed.status == 200, await fixed.text()
    assert SAID in (await fixed.json())["item"]["keywords"]

    again = await ask(await aiohttp_client(app), f"{SAID}要什么手续")
    assert again["item"] == "食品经营许可证办理"

    assert (await staff.get("/console/api/learned")).status == 403  # supervisors review them
    supervisor = await aiohttp_client(app)
    sup_headers = await sign_in(supervisor, "zhuguan")
    learned = (await (await supervisor.get("/console/api/learned")).json())["learned"]
    assert [(e["phrase"], e["item_name"], e["source"]) for e in learned] == [
        (SAID, "食品经营许可证办理", f"handoff:{card['handoff_id']}")
    ]
    assert "wangfang" in learned[0]["by"] and learned[0]["at"]

    removed = await supervisor.post("/console/api/learned/remove", headers=sup_headers,
                                    json={"item_code": FOOD, "phrase": SAID})
    assert removed.status == 200
    assert SAID not in (await removed.json())["item"]["keywords"]
    assert (await (await supervisor.get("/console/api/learned")).json())["learned"] == []
    gone = await supervisor.post("/console/api/learned/remove", headers=sup_headers,
                                 json={"item_code": FOOD, "phrase": SAID})
    assert gone.status == 404
