"""Supervisors see the week's unplaced questions, attach a phrase to an item, and it lands there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from tests.conftest import NOW
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.helpers.console import PASSWORD, ask, queue, sign_in
from tongban.memory.models import QuestionLog

UNPLACED = "我想办理摆摊的手续"  # no item says 摆摊: the offline brain guesses without the item being named
REPHRASED = "摆地摊要办什么证"


async def test_unplaced_questions_reach_the_supervisor_and_a_keyword_places_them(
    aiohttp_client, app, store,  # type: ignore[no-untyped-def]
) -> None:
    residents = [await aiohttp_client(app) for _ in range(2)]
    for client in residents:
        first = await ask(client, UNPLACED)
        assert first["item"] != "个体工商户设立登记"
        await ask(client, REPHRASED)
    placed = await ask(residents[0], "身份证到期了怎么换")  # a hot topic, kept without its text
    assert placed["item"] == "居民身份证换领"
    await ask(residents[1], "我的电话13812345678，转人工")

    with store.read_session() as session:
        rows = session.exec(select(QuestionLog)).all()
    assert {r.kind for r in rows} == {"low_confidence", "rephrased", "answered", "asked_person"}
    assert all("13812345678" not in (r.text_masked or "") for r in rows)
    assert all(r.resident_key and not r.resident_key.isdigit() for r in rows)

    staff = await aiohttp_client(app)
    await sign_in(staff, "wangfang")
    assert (await staff.get("/console/api/questions")).status == 403  # supervisors only
    supervisor = await aiohttp_client(app)
    headers = await sign_in(supervisor, "zhuguan")
    report = await (await supervisor.get(f"/console/api/questions?week={NOW.date().isoformat()}")).json()
    assert report["week"] == "2026-11-23"
    assert {"code": "450000-GA-0001", "name": "居民身份证换领", "count": 1} in report["topics"]
    unplaced = {q["text"]: q for q in report["unplaced"]}
    assert unplaced[UNPLACED]["count"] == 2 and unplaced[UNPLACED]["askers"] == 2
    assert unplaced[REPHRASED]["kinds"] == ["rephrased"]
    assert "我的电话138****5678，转人工" in unplaced

    response = await supervisor.post("/console/api/questions/keyword", headers=headers,
                                      json={"item_code": "450000-SJ-0001", "phrase": "摆摊"})
    assert response.status == 200, await response.text()
    assert "摆摊" in (await response.json())["item"]["keywords"]

    again = await ask(await aiohttp_client(app), UNPLACED)
    assert again["item"] == "个体工商户设立登记"
    assert "个体工商户设立登记" in again["text"]


async def test_keyword_needs_a_known_item_and_a_phrase(aiohttp_client, app) -> None:  # type: ignore[no-untyped-def]
    supervisor = await aiohttp_client(app)
    headers = await sign_in(supervisor, "zhuguan")
    missing = await supervisor.post("/console/api/questions/keyword", headers=headers,
                                    json={"item_code": "nope", "phrase": "摆摊"})
    assert missing.status == 404
    short = await supervisor.post("/console/api/questions/keyword", headers=headers,
                                  json={"item_code": "450000-SJ-0001", "phrase": " "})
    assert short.status == 400


async def test_a_week_outside_the_calendar_is_refused_not_a_server_error(aiohttp_client, app) -> None:  # type: ignore[no-untyped-def]
    supervisor = await aiohttp_client(app)
    await sign_in(supervisor, "zhuguan")
    for week in ("0001-01-01", "9999-12-31", "2026-02-30"):
        response = await supervisor.get(f"/console/api/questions?week={week}")
        assert response.status == 400, week
        assert (await response.json())["error"] == "bad_week"


@pytest.mark.slow  # a real browser
async def test_the_supervisor_places_a_question_from_the_console_page_in_headless_chromium(
    aiohttp_client, app, tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    async_playwright = browser_or_skip()
    residents = [await aiohttp_client(app) for _ in range(2)]
    for client in residents:
        await ask(client, UNPLACED)
    base = str(residents[0].make_url("/")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=CHROMIUM_ARGS,
        )
        try:
            errors: list[str] = []
            for username, supervisor in (("wangfang", False), ("zhuguan", True)):
                context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                                    timezone_id="Asia/Shanghai")
                page = await context.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(base + "/console")
                await page.wait_for_selector("body[data-ready='1']")
                await page.fill("#username", username)
                await page.fill("#password", PASSWORD)
                await page.click("#signin-button")
                await page.locator("#desk").wait_for()
                link = page.locator("#questions-link")
                assert await link.is_visible() is supervisor
                await page.goto(base + "/console/questions")
                await page.wait_for_selector("body[data-ready='1']")
                if not supervisor:  # plain staff get a refusal, not the list
                    assert await page.locator("#refused").is_visible()
                    assert not await page.locator("#report").is_visible()
                    continue
                row = page.locator("#unplaced tr", has_text=UNPLACED)
                await row.wait_for()
                assert (await row.locator("td").nth(1).inner_text()) == "2"  # asked twice, by two people
                await row.locator("input").fill("摆摊")
                await row.locator("select").select_option(label="个体工商户设立登记")
                await row.locator("button").click()
                await row.locator(".done", has_text="个体工商户设立登记").wait_for()
                await page.screenshot(path=str(tmp_path / "questions.png"))
            assert not errors
        finally:
            await browser.close()
    again = await ask(await aiohttp_client(app), UNPLACED)  # the index took the keyword at once
    assert again["item"] == "个体工商户设立登记"


async def test_a_name_the_resident_types_is_masked_in_the_log_the_review_and_the_transcript(
    aiohttp_client, app, store,  # type: ignore[no-untyped-def]
) -> None:
    """The resident is not verified: their name is on no record, only in what they wrote."""
    resident = await aiohttp_client(app)
    await ask(resident, "你好，我叫覃秀兰，想问下摆摊的手续")
    await ask(resident, "我是欧阳建国，转人工")
    with store.read_session() as session:
        rows = session.exec(select(QuestionLog)).all()
    stored = " ".join(r.text_masked or "" for r in rows)
    assert "覃秀兰" not in stored and "欧阳建国" not in stored and "秀兰" not in stored
    assert "我是欧***，转人工" in stored

    supervisor = await aiohttp_client(app)
    await sign_in(supervisor, "zhuguan")
    review = await (await supervisor.get(f"/console/api/questions?week={NOW.date().isoformat()}")).text()
    assert "覃秀兰" not in review and "欧阳建国" not in review and "欧***" in review
    [row] = await queue(supervisor)
    transcript = await (await supervisor.get(f"/console/api/conversations/{row['handoff_id']}")).text()
    assert "欧阳建国" not in transcript and "覃秀兰" not in transcript
    assert "我是欧***，转人工" in transcript and "覃**" in transcript
