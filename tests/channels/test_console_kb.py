"""Supervisors upload FAQ sheets in the console; residents are answered from them, with citations."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from aiohttp import FormData

from tests.conftest import NOW
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.helpers.console import PASSWORD, add_accounts, ask, sign_in
from tongban.agent.service import Agent
from tongban.channels.app.server import create_app
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.tools.kb.index import KnowledgeIndex
from tongban.tools.settings import ToolsSettings

SHEET = ("编号,问题,答案,处理单位\n"
         "gjj-01,公积金贷款还清后要办什么手续？,贷款还清后，请携带身份证到承办银行领取贷款结清证明，再到不动产登记中心办理抵押注销登记。,住房公积金管理中心\n"
         "gjj-02,没有答案的一行,,住房公积金管理中心\n"
         "hk-01,孩子在外地上学户口要迁过去吗？,学生上学不需要迁移户口，凭学校录取通知书即可入学；如需迁移，可到学校所在地派出所办理。,公安局\n")


@pytest.fixture
def app(store, service_index, channel_settings, tmp_path):  # type: ignore[no-untyped-def]
    add_accounts(store)
    knowledge = KnowledgeIndex(store, ToolsSettings(index_dir=tmp_path / "index"))

    def agent(s):  # type: ignore[no-untyped-def]
        return Agent(s, clock=lambda: NOW, index=service_index, knowledge=knowledge,
                     checkpointer=sqlite_checkpointer(":memory:"))

    return create_app(channel_settings, store=store, agent_factory=agent)


def _form(name: str, data: bytes) -> FormData:
    form = FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return form


async def test_a_supervisor_uploads_a_sheet_and_residents_get_cited_answers(aiohttp_client, app) -> None:  # type: ignore[no-untyped-def]
    staff = await aiohttp_client(app)
    staff_headers = await sign_in(staff, "wangfang")
    assert (await staff.get("/console/api/kb")).status == 403
    assert (await staff.post("/console/api/kb", data=_form("faq.csv", SHEET.encode()), headers=staff_headers)).status == 403

    supervisor = await aiohttp_client(app)
    headers = await sign_in(supervisor, "zhuguan")
    assert (await supervisor.post("/console/api/kb", data=_form("faq.csv", SHEET.encode()))).status == 403  # no CSRF token
    response = await supervisor.post("/console/api/kb", data=_form("热线问答.csv", SHEET.encode()), headers=headers)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert (report["added"], report["error_count"], report["errors"]) == (2, 1, [{"line": 3, "message": "答案为空"}])
    bad = await supervisor.post("/console/api/kb", data=_form("notes.csv", "名称\n甲\n".encode()), headers=headers)
    assert bad.status == 400 and "答案" in (await bad.json())["message"]

    for _ in range(600):  # the index catches up in the background
        listing = await (await supervisor.get("/console/api/kb")).json()
        if listing["indexed"] == 2:
            break
        await asyncio.sleep(0.1)
    assert [(f["name"], f["entries"]) for f in listing["files"]] == [("热线问答.csv", 2)]

    resident = await aiohttp_client(app)
    answer = await ask(resident, "公积金的贷款都还完了，还需要去办什么手续吗")
    assert answer["citations"] == ["gjj-01"] and "结清证明" in answer["text"] and "热线问答.csv" in answer["text"]

    removed = await supervisor.post("/console/api/kb/remove", json={"name": "热线问答.csv"}, headers=headers)
    assert (await removed.json())["removed"] == 2
    missing = await supervisor.post("/console/api/kb/remove", json={"name": "热线问答.csv"}, headers=headers)
    assert missing.status == 404


async def test_the_page_is_served(aiohttp_client, app) -> None:  # type: ignore[no-untyped-def]
    page = await (await aiohttp_client(app)).get("/console/kb")
    assert page.status == 200 and "知识库" in await page.text()


async def test_a_supervisor_uploads_lists_and_removes_a_sheet_on_the_page_in_headless_chromium(
    aiohttp_client, app, tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """The page end to end: the file goes up as a multipart form, the report and the bad line are
    shown, the list holds the file, and 删除 takes it off after the supervisor confirms."""
    async_playwright = browser_or_skip()
    sheet = tmp_path / "热线问答.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    base = str((await aiohttp_client(app)).make_url("/")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=CHROMIUM_ARGS,
        )
        try:
            context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/console/kb")
            await page.wait_for_selector("body[data-ready='1']")
            assert await page.locator("#refused-title").inner_text() == "请先登录"  # nobody signed in yet
            await page.goto(base + "/console")
            await page.wait_for_selector("body[data-ready='1']")
            await page.fill("#username", "zhuguan")
            await page.fill("#password", PASSWORD)
            await page.click("#signin-button")
            await page.locator("#desk").wait_for()
            await page.goto(base + "/console/kb")
            await page.wait_for_selector("body[data-ready='1']")
            assert await page.locator("#files-empty").is_visible()
            await page.set_input_files("#file", str(sheet))
            await page.click("#upload-button")
            status = page.locator("#upload-status", has_text="新增 2 条")
            await status.wait_for()
            assert "出错 1 行" in await status.inner_text()
            assert await page.locator("#upload-errors li").inner_text() == "第 3 行（页）：答案为空"
            row = page.locator("#files tr", has_text="热线问答.csv")
            assert await row.locator("td").nth(2).inner_text() == "2"
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await row.locator("button").click()
            await page.locator("#files-empty").wait_for(state="visible")
            assert await page.locator("#files tr").count() == 0
            assert not errors
        finally:
            await browser.close()
