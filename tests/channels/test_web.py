"""The resident web chat: its JSON API, its defences, and the page in a real headless browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aiohttp import FormData

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip, screenshot_path
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.app.voice_hook import NO_VOICE
from tongban.channels.web.chat import COOKIE, STATIC

XHR = {"X-Requested-With": "XMLHttpRequest"}

async def ask(client, text: str):  # type: ignore[no-untyped-def]
    return await client.post("/api/web/messages", json={"text": text}, headers=XHR)


async def test_the_page_is_served_with_a_signed_httponly_cookie(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    page = await client.get("/")
    assert page.status == 200 and "通办" in await page.text()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    cookie = page.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    for asset in ("chat.js", "chat.css"):
        assert (await client.get(f"/static/{asset}")).status == 200


async def test_a_question_gets_the_item_and_the_history_keeps_it(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    response = await ask(client, "身份证到期了怎么换")
    assert response.status == 200
    body = await response.json()
    assert body["item"] == "居民身份证换领" and body["cards"][0]["type"] == "item"
    assert body["quick_replies"] and body["ai_generated"] is False
    assert COOKIE in response.cookies, "an anonymous resident gets an id on first use"
    history = (await (await client.get("/api/web/history")).json())["messages"]
    assert [m["role"] for m in history] == ["resident", "assistant"]
    assert history[0]["text"] == "身份证到期了怎么换"


async def test_residents_are_kept_apart_and_forged_cookies_get_a_fresh_id(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    first = await aiohttp_client(app)
    await ask(first, "身份证到期了怎么换")
    stranger = await aiohttp_client(app)
    assert (await (await stranger.get("/api/web/history")).json()) == {"messages": [], "handoff": None}
    own = first.session.cookie_jar.filter_cookies(first.make_url("/"))[COOKIE].value
    forged = own.split(".")[0] + ".AAAA"
    response = await stranger.get("/api/web/history", cookies={COOKIE: forged})
    assert (await response.json()) == {"messages": [], "handoff": None}
    assert response.cookies[COOKIE].value != forged
    for garbled in ("身份.签名", own.split(".")[0] + ".签名"):  # not ASCII: forged too, not a server error
        newcomer = await aiohttp_client(app)
        response = await newcomer.get("/api/web/history", headers={"Cookie": f"{COOKIE}={garbled}"})
        assert response.status == 200 and (await response.json()) == {"messages": [], "handoff": None}


async def test_cross_site_posts_are_refused(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    no_header = await client.post("/api/web/messages", json={"text": "身份证到期了怎么换"})
    assert no_header.status == 403 and (await no_header.json())["error"] == "csrf"
    form = await client.post("/api/web/messages", data={"text": "身份证到期了怎么换"}, headers=XHR)
    assert form.status == 415
    plain = await client.post("/api/web/messages", data=json.dumps({"text": "你好"}),
                              headers={**XHR, "Content-Type": "text/plain"})
    assert plain.status == 415
    voice = await client.post("/api/web/voice", data=b"\x00" * 100)
    assert voice.status == 403
    bad = await client.post("/api/web/messages", data=b"[1, 2", headers={**XHR, "Content-Type": "application/json"})
    assert bad.status == 400 and (await bad.json())["error"] == "bad_request"
    deep = await client.post("/api/web/messages", data=b"[" * 30000, headers={**XHR, "Content-Type": "application/json"})
    assert deep.status == 400 and (await deep.json())["error"] == "bad_request", "nested past the parser's recursion"


async def test_voice_without_a_hook_and_oversized_uploads(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    settings = ChannelSettings(env="test", session_secret="test-session-secret-0123456789", max_upload_bytes=2048)
    client = await aiohttp_client(make_app(settings))
    form = FormData()
    form.add_field("format", "webm")
    form.add_field("file", b"\x1a\x45\xdf\xa3" * 50, filename="voice.webm", content_type="audio/webm")
    response = await client.post("/api/web/voice", data=form, headers=XHR)
    assert response.status == 200 and (await response.json())["text"] == NO_VOICE
    big = FormData()
    big.add_field("file", b"\x00" * 4096, filename="voice.wav", content_type="audio/wav")
    too_large = await client.post("/api/web/voice", data=big, headers=XHR)
    assert too_large.status == 413 and (await too_large.json())["error"] == "too_large"


async def test_a_malformed_voice_upload_is_a_bad_request(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    part = b'--zz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
    bodies = {
        "multipart/form-data": b"no boundary at all",
        "multipart/form-data; boundary=zz": b"never the boundary it names",
        "multipart/form-data; boundary=zz ": part % (b"format", b"\xff\xfe") + part % (b"file", b"AAAA") + b"--zz--\r\n",
    }
    for content_type, body in bodies.items():
        response = await client.post("/api/web/voice", data=body, headers={**XHR, "Content-Type": content_type})
        assert response.status == 400, content_type
        assert (await response.json())["error"] == "bad_request"


async def test_a_nul_character_is_refused_where_postgresql_could_not_store_it(aiohttp_client, make_app, any_store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(app_store=any_store))
    said = await ask(client, "推车卖早点\u0000要办啥")  # an unplaced question: its text is logged
    assert said.status == 400 and (await said.json())["error"] == "bad_request"
    form = FormData()
    form.add_field("item", "450000-GA-0001\x00")
    form.add_field("file", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, filename="id.png", content_type="image/png")
    upload = await client.post("/api/web/upload", data=form, headers=XHR)
    assert upload.status == 400 and (await upload.json())["error"] == "bad_request"
    for page in ("/items/450000-GA-0001%00", "/kb/faq%00"):
        assert (await client.get(page)).status == 404, page
    assert (await ask(client, "推车卖早点要办啥")).status == 200, "the same words without it are answered"


def test_the_page_is_self_contained_and_escapes_text() -> None:
    """No CDN, no build step; reply text never goes through innerHTML."""
    for path in STATIC.iterdir():
        source = path.read_text("utf-8")
        assert "http://" not in source and "https://" not in source, f"{path.name} loads nothing remote"
    script = (STATIC / "chat.js").read_text("utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


# ------------------------------------------------------------------ in a real browser


@pytest.mark.slow  # a real browser
async def test_the_chat_in_headless_chromium(aiohttp_server, make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    async_playwright = browser_or_skip()
    screenshot = screenshot_path("web-chat.png", tmp_path)
    server = await aiohttp_server(make_app())
    url = str(server.make_url("/"))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=CHROMIUM_ARGS,
        )
        try:
            page = await browser.new_page(viewport={"width": 420, "height": 860}, device_scale_factor=2, locale="zh-CN")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(url)
            await page.wait_for_selector("body[data-ready='1']")
            assert "政务服务助手" in await page.locator(".bar").inner_text()

            await page.fill("#text", "身份证到期了怎么换")
            await page.click("#send")
            card = page.locator(".card.item h3", has_text="居民身份证换领")
            await card.first.wait_for(timeout=30_000)
            bot_rows = page.locator(".row.bot")
            assert await bot_rows.count() == 2  # the welcome and the answer
            assert await page.locator(".row.bot .tag", has_text="智能助手").count() == 2
            assert await page.locator(".tag.ai").count() == 0, "the offline answer was not model-written"

            await page.locator(".chip", has_text="要带什么材料").click()
            await page.locator(".row.bot .bubble", has_text="需要带的材料").last.wait_for(timeout=30_000)
            assert await page.locator(".row.me .bubble").count() == 2
            assert await page.locator(".row.me .bubble").last.inner_text() == "要带什么材料"

            # for the README: from the resident's first question on, nothing hovered
            await page.mouse.move(0, 0)
            await page.evaluate("""() => {
                const log = document.getElementById('log'), asked = document.querySelector('.row.me');
                log.scrollTop = asked.offsetTop - log.offsetTop - 12;
            }""")
            await page.screenshot(path=str(screenshot))

            # a model-written reply is labelled, and markup in it stays text
            async def ai_reply(route) -> None:  # type: ignore[no-untyped-def]
                await route.fulfill(json={
                    "text": "<img src=x onerror=\"document.body.dataset.pwned=1\">建议您先带上户口簿。",
                    "ai_generated": True, "ai_label": "（本回复由AI生成，仅供参考）", "quick_replies": [],
                    "cards": [], "intent": "chitchat", "item": None, "handoff": False,
                })

            await page.route("**/api/web/messages", ai_reply)
            await page.fill("#text", "还有什么要注意的")
            await page.press("#text", "Enter")
            await page.locator(".tag.ai", has_text="AI生成").wait_for()
            last = page.locator(".row.bot .bubble").last
            assert "<img src=x" in await last.inner_text() and "AI生成" in await last.inner_text()
            assert await page.locator(".log img").count() == 0
            assert await page.evaluate("document.body.dataset.pwned") is None

            # 大字 tells the server: 长者模式 from the next reply on (numbered choices)
            await page.unroute("**/api/web/messages")
            async with page.expect_response("**/api/web/preferences") as told:
                await page.click("#font-toggle")
            assert (await (await told.value).json()) == {"elderly": True}
            assert await page.evaluate("document.documentElement.classList.contains('large')")
            await page.fill("#text", "我想预约换身份证")
            await page.click("#send")
            await page.locator(".row.bot .bubble", has_text="请回复数字").last.wait_for(timeout=30_000)
            # and saying so turns it off again, the page's large print too
            await page.fill("#text", "关闭长者模式")
            await page.click("#send")
            await page.locator(".row.bot .bubble", has_text="已关闭长者模式").wait_for(timeout=30_000)
            assert not await page.evaluate("document.documentElement.classList.contains('large')")
            assert errors == []
        finally:
            await browser.close()
    assert screenshot.stat().st_size > 10_000
