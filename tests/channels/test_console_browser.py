"""The handoff, end to end in headless Chromium: a resident's web chat and a staff member's console.

转人工 on the web chat → the conversation is in the signed-in staff member's queue → staff claim
and reply → the resident's page shows the reply → the resident writes again: only the console
sees it, no bot bubble → staff hand back → the bot answers again. Two halls: the 南宁 staff
member never sees the 柳州 resident, and the 柳州 staff member, in a browser of their own, sees
the 柳州 resident but never the 南宁 one.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip, screenshot_path
from tests.helpers.console import PASSWORD, add_accounts
from tongban.agent.messages import Inbound
from tongban.channels.app import keys
from tongban.channels.console.auth import CONSOLE_SETTINGS
from tongban.channels.console.settings import ConsoleSettings
from tongban.memory import staff
from tongban.memory.models import Hall, Handoff, Resident, utcnow
from tongban.memory.residents import Identity

NAME, PHONE, ID_NUMBER = "黄秀英", "13977112345", "450102199001011231"
LIUZHOU = "柳州市政务服务中心"


@pytest.mark.slow  # a real browser
async def test_staff_take_over_and_hand_back_in_headless_chromium(aiohttp_server, make_app, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    async_playwright = browser_or_skip()
    queue_shot = screenshot_path("console-queue.png", tmp_path)
    conversation_shot = screenshot_path("console-conversation.png", tmp_path)
    from playwright.async_api import expect
    add_accounts(store)
    with store.session(actor="test") as session:
        staff.add_staff(session, username="liuzhou", password=PASSWORD, hall=LIUZHOU, display_name="陈柳")
    app = make_app()
    app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.1)
    server = await aiohttp_server(app)
    base = str(server.make_url("/")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=CHROMIUM_ARGS,
        )
        try:
            home = await browser.new_context(viewport={"width": 420, "height": 860}, locale="zh-CN",
                                             timezone_id="Asia/Shanghai")
            hall = await browser.new_context(viewport={"width": 1360, "height": 860}, locale="zh-CN",
                                             timezone_id="Asia/Shanghai")
            resident, console = await home.new_page(), await hall.new_page()
            errors: list[str] = []
            for page in (resident, console):
                page.on("pageerror", lambda exc: errors.append(str(exc)))

            # the resident asks about an item, then for a person
            await resident.goto(base + "/")
            await resident.wait_for_selector("body[data-ready='1'][data-live='1']")
            await say(resident, "身份证到期了怎么换")
            await resident.locator(".card.item h3", has_text="居民身份证换领").wait_for(timeout=30_000)
            for text in ("我想预约", "明天上午", "南宁市民中心"):  # half-way through a booking…
                await turn(resident, text)
            await resident.locator(".row.bot .bubble", has_text="请确认").wait_for()
            await turn(resident, "转人工")  # …the resident wants a person
            await resident.locator(".row.bot .bubble", has_text="已为您转接人工服务").wait_for(timeout=30_000)

            # two more residents waiting, on other channels, one with a verified identity
            agent = app[keys.AGENT]
            await agent.respond(Inbound(channel="wechat", user_id="oWx-console-demo-1", text="我要投诉，窗口办事太慢了",
                                        identity=Identity(name=NAME, phone=PHONE, id_number=ID_NUMBER)))
            await agent.respond(Inbound(channel="miniprogram", user_id="oMp-console-demo-2", text="残疾人证怎么办理"))
            await agent.respond(Inbound(channel="miniprogram", user_id="oMp-console-demo-2", text="帮我转人工"))

            with store.session() as session:  # as if they had waited a while (for the screenshot)
                waits = (252, 125, 35)
                for handoff, seconds in zip(session.exec(select(Handoff).order_by(Handoff.id)).all(), waits, strict=True):
                    handoff.created_at = utcnow() - dt.timedelta(seconds=seconds)

            # and one in 柳州 (their usual hall), whom the 南宁 staff must never see
            await agent.respond(Inbound(channel="wechat", user_id="oWx-liuzhou-1", text="户口迁移要带什么"))
            with store.session() as session:
                someone = session.exec(select(Resident).where(Resident.wechat_openid == "oWx-liuzhou-1")).one()
                someone.usual_hall_id = session.exec(select(Hall.id).where(Hall.name == LIUZHOU)).one()
            await agent.respond(Inbound(channel="wechat", user_id="oWx-liuzhou-1", text="转人工"))

            # staff sign in and see the queue, masked
            await console.goto(base + "/console")
            await console.wait_for_selector("body[data-ready='1']")
            await console.fill("#username", "wangfang")
            await console.fill("#password", PASSWORD)
            await console.click("#signin-button")
            items = console.locator(".queue-item")
            await items.nth(2).wait_for(timeout=15_000)
            assert await items.count() == 3
            text = await console.locator("#queue").inner_text()
            assert "居民要求人工服务" in text and "居民投诉" in text and "黄*" in text
            assert NAME not in text and PHONE not in text
            assert LIUZHOU not in text, "another hall's resident is not in this queue"
            await console.mouse.move(0, 0)
            await console.screenshot(path=str(queue_shot))

            # claim the web resident's conversation (the longest waiting) and reply
            await items.first.click()
            card = console.locator("#card")
            await card.locator("text=居民身份证换领").wait_for()
            shown = await card.inner_text()
            assert "网页" in shown and "南宁市民中心" in shown and "2026-11-25" in shown and "上午" in shown
            await console.click("#claim")
            await card.locator(".tag.claimed").wait_for()
            await resident.locator(".row.bot .bubble.system", has_text="王芳").wait_for(timeout=10_000)
            await console.fill("#reply-text", "您好，我是南宁市民中心的王芳。换领身份证请本人带旧证到窗口办理，现场免费拍照。")
            await console.click("#send-reply")
            await resident.locator(".row.staff .bubble", has_text="现场免费拍照").wait_for(timeout=10_000)
            assert "工作人员 · 王芳" in await resident.locator(".row.staff .tag.staff").inner_text()

            # the resident writes again: the console sees it, the bot stays silent
            bot_bubbles = await resident.locator(".row.bot").count()
            async with resident.expect_response("**/api/web/messages") as answered:
                await say(resident, "那我明天上午过去可以吗")
            assert (await (await answered.value).json())["text"] == ""
            await console.locator(".msg.resident .text", has_text="明天上午过去").wait_for(timeout=10_000)
            await resident.wait_for_timeout(300)
            assert await resident.locator(".row.bot").count() == bot_bubbles, "no bot bubble while staff hold it"

            await console.fill("#reply-text", "居民明天上午来办，已告知免费拍照")
            await console.click("#send-note")
            await console.locator(".msg.note .text", has_text="已告知免费拍照").wait_for()
            await console.fill("#reply-text", "可以的，明天上午9点到12点都可以办理。")
            await console.click("#send-reply")
            await resident.locator(".row.staff .bubble", has_text="9点到12点").wait_for(timeout=30_000)
            staff_line = console.locator(".msg.staff .who").last
            assert "工作人员 · 王芳" in await staff_line.inner_text(), "staff by the name residents see"
            assert not any("wangfang" in who for who in await console.locator(".msg .who").all_inner_texts())
            await console.mouse.move(0, 0)
            await console.screenshot(path=str(conversation_shot))

            # staff hand back: the bot answers again, from where the conversation is
            await console.click("#hand-back")
            await resident.locator(".row.bot .bubble.system", has_text="智能助手将继续为您服务").wait_for(timeout=10_000)
            await expect(console.locator(".queue-item")).to_have_count(2, timeout=10_000)
            # the first card listed the materials too: the answer is a new bubble, the last one
            materials = resident.locator(".row.bot .bubble", has_text="需要带的材料")
            before = await materials.count()
            await say(resident, "要带什么材料")
            await expect(materials).to_have_count(before + 1, timeout=30_000)
            assert "居民户口簿" in await resident.locator(".row.bot .bubble").last.inner_text()

            # the 柳州 staff member: their resident and the unplaced ones, never the 南宁 one
            other = await (await browser.new_context(viewport={"width": 1360, "height": 860}, locale="zh-CN",
                                                     timezone_id="Asia/Shanghai")).new_page()
            other.on("pageerror", lambda exc: errors.append(str(exc)))
            await other.goto(base + "/console")
            await other.wait_for_selector("body[data-ready='1']")
            await other.fill("#username", "liuzhou")
            await other.fill("#password", PASSWORD)
            await other.click("#signin-button")
            theirs = other.locator(".queue-item", has_text=LIUZHOU)
            await theirs.wait_for(timeout=15_000)
            queue_text = await other.locator("#queue").inner_text()
            assert "南宁市民中心" not in queue_text and "居民身份证换领" not in queue_text
            await theirs.click()
            await other.locator("#card", has_text=LIUZHOU).wait_for()
            await other.click("#claim")
            await other.locator("#card .tag.claimed").wait_for()
            assert LIUZHOU not in await console.locator("#queue").inner_text(), "南宁 sees nothing of it"
            assert errors == []
        finally:
            await browser.close()
    for shot in (queue_shot, conversation_shot):
        assert shot.stat().st_size > 10_000


async def say(page, text: str) -> None:  # type: ignore[no-untyped-def]
    await page.fill("#text", text)
    await page.click("#send")


async def turn(page, text: str) -> None:  # type: ignore[no-untyped-def]
    async with page.expect_response("**/api/web/messages", timeout=30_000):
        await say(page, text)
    await page.wait_for_selector("#send:not([disabled])")
