"""A pre-filled form's PDF, through the app: its owner downloads it from the chat, staff print it
while they hold the owner's handoff, nobody else gets it, and every download is audited."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import select

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.helpers.console import act, add_accounts, ask, queue, sign_in
from tongban.memory.models import AuditLog, FormFill, FormFillStatus
from tongban.tools.form_font import DEFAULT_FONTS

pytestmark = pytest.mark.skipif(not any(f.is_file() for f in DEFAULT_FONTS),
                                reason="no Chinese font to embed in forms: apt-get install fonts-wqy-zenhei")

ANSWERS = {"姓名": "黄丽", "公民身份号码": "45010319780512102X", "联系电话": "13977125508",
           "户籍地址": "南宁市兴宁区朝阳路1号", "参保人员类别": "学生儿童", "现居住地址": "跳过"}
START = "帮我填城乡居民基本医疗保险参保登记的申请表"


def asked(text: str) -> str | None:
    found = re.search(r"请提供(.+?)(?:（18位）|（本人名下的借记卡）)?。|请问(.+?)是(?:哪一项|哪一天)", text)
    return (found.group(1) or found.group(2)) if found else None


async def fill_and_confirm(client: Any) -> dict[str, Any]:
    """A web resident fills the insurance form in the chat and confirms it; returns the form card."""
    reply = await ask(client, START)
    for _ in range(2 * len(ANSWERS)):
        label = asked(reply["text"])
        if label is None:
            break
        reply = await ask(client, ANSWERS[label])
    assert "请核对您的申请表" in reply["text"] and "45010319780512102X" not in reply["text"]
    done = await ask(client, "确认")
    (card,) = [c for c in done["cards"] if c["type"] == "form"]
    assert card["url"] in done["text"]
    return card


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def downloads(store: Any) -> list[tuple[str, str]]:
    with store.session() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "download_form").order_by(AuditLog.id))
        return [(a.actor, a.entity_id) for a in rows]


async def test_the_owner_downloads_the_filled_form_and_nobody_else_does(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    owner, stranger, anonymous = await aiohttp_client(app), await aiohttp_client(app), await aiohttp_client(app)
    card = await fill_and_confirm(owner)

    response = await owner.get(card["url"])
    assert response.status == 200 and response.content_type == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    text = text_of(await response.read())
    for value in ("黄丽", "45010319780512102X", "13977125508", "南宁市兴宁区朝阳路1号", "学生儿童", "未经实名核验"):
        assert value in text

    await ask(stranger, "身份证到期了怎么换")  # a resident of their own, with their own cookie
    assert (await stranger.get(card["url"])).status == 404, "another resident's form is not found"
    assert (await anonymous.get(card["url"])).status == 401, "no resident at all: say where to open it"
    assert (await owner.get("/forms/" + "A" * 32 + ".pdf")).status == 404

    second = await ask(owner, "帮我填社会保障卡申领的申请表")  # a second form, one answer given, left a draft
    await ask(owner, ANSWERS[asked(second["text"]) or "姓名"])
    with store.session() as session:
        (draft,) = session.exec(select(FormFill).where(FormFill.status == FormFillStatus.DRAFT)).all()
    assert (await owner.get(f"/forms/{draft.token}.pdf")).status == 404, "an unconfirmed draft is no form"
    assert [actor.split(":")[0] for actor, _ in downloads(store)] == ["resident"], "each download audited"


async def test_staff_print_a_form_only_while_they_hold_its_owners_handoff(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    add_accounts(store)
    app = make_app()
    resident, holder, colleague = await aiohttp_client(app), await aiohttp_client(app), await aiohttp_client(app)
    await fill_and_confirm(resident)
    assert (await ask(resident, "转人工"))["handoff"] is True

    headers = await sign_in(holder, "wangfang")
    await sign_in(colleague, "lisi")
    (row,) = await queue(holder)
    card = (await (await holder.get(f"/console/api/conversations/{row['handoff_id']}")).json())["card"]
    (form,) = card["forms"]
    assert form["title"] == "城乡居民基本医疗保险参保登记申请表" and "黄丽" not in str(card)
    assert (await holder.get(form["url"])).status == 404, "waiting in the queue is not holding it"

    assert (await act(holder, headers, row["handoff_id"], "claim")).status == 200
    printed = await holder.get(form["url"])
    assert printed.status == 200 and "45010319780512102X" in text_of(await printed.read())
    assert (await colleague.get(form["url"])).status == 404, "a colleague who does not hold it cannot print it"
    assert (await resident.get(form["url"])).status == 401, "the console address is for staff"
    assert downloads(store)[-1][0] == "staff:wangfang"


@pytest.mark.slow  # a real browser
async def test_the_form_card_in_the_web_chat_downloads_in_a_real_browser(aiohttp_server, make_app) -> None:  # type: ignore[no-untyped-def]
    async_playwright = browser_or_skip()
    server = await aiohttp_server(make_app())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=CHROMIUM_ARGS,
        )
        try:
            page = await browser.new_page(locale="zh-CN")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(str(server.make_url("/")))
            await page.wait_for_selector("body[data-ready='1']")
            said = 1
            text = START
            while True:
                await page.fill("#text", text)
                await page.click("#send")
                said += 1
                last = page.locator(".row.bot .bubble:not(.typing)").nth(said - 1)
                await last.wait_for(timeout=30_000)
                label = asked(await last.inner_text())
                if label is None:
                    break
                text = ANSWERS[label]
            await page.fill("#text", "确认")
            await page.click("#send")
            link = page.locator(".card.form a.download")
            await link.wait_for(timeout=30_000)
            href = await link.get_attribute("href") or ""
            assert href.startswith("/forms/") and href.endswith(".pdf")
            mine = await page.request.get(str(server.make_url(href)))
            assert mine.status == 200 and "黄丽" in text_of(await mine.body())
            other = await browser.new_context()
            try:
                await other.request.get(str(server.make_url("/")))  # a visitor with a cookie of their own
                assert (await other.request.get(str(server.make_url(href)))).status == 404
            finally:
                await other.close()
            assert errors == []
        finally:
            await browser.close()

