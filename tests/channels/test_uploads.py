"""Material uploads through the app: web chat and mini-program, limits, encryption, console, retention.

The photos are synthetic documents (tests/helpers/specimens.py) and OCR runs for real; the database is
the test's own SQLite copy of the demo data.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sqlite3
from typing import Any

import pytest
from aiohttp import FormData
from sqlmodel import func, select

from tests.helpers.console import PASSWORD, XHR, act, add_accounts, ask, queue, sign_in
from tests.helpers.mp_server import APP_ID, APP_SECRET, MockWeChat
from tests.helpers.specimens import APPLICANT, APPLICANT_ID, OTHER, encode, font_missing, specimens
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.console.auth import CONSOLE_SETTINGS
from tongban.channels.console.settings import ConsoleSettings
from tongban.memory import uploads
from tongban.memory.models import AuditLog, TranscriptMessage, Upload
from tongban.memory.residents import Identity, resolve
from tongban.memory.retention import purge_before
from tongban.tools.review.review import DISCLAIMER

MISSING = font_missing() or (
    None if importlib.util.find_spec("rapidocr_onnxruntime") else "the ocr extra is not installed: pip install -e '.[ocr]'"
)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=str(MISSING))]  # real OCR over synthetic documents
SESSION_SECRET = "test-session-secret-0123456789"


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    return {name: encode(image) for name, image in specimens().items()}


def form(data: bytes, *, item: str | None = None, name: str = "photo.jpg", content_type: str = "image/jpeg") -> FormData:
    body = FormData()
    body.add_field("file", data, filename=name, content_type=content_type)
    if item:
        body.add_field("item", item)
    return body


async def upload(client, data: bytes, **fields: Any):  # type: ignore[no-untyped-def]
    return await client.post("/api/web/upload", data=form(data, **fields), headers=XHR)


def count(store, table=Upload) -> int:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return session.exec(select(func.count()).select_from(table)).one()


# ------------------------------------------------------------------ the web chat


async def test_web_uploads_are_reviewed_against_the_item_in_the_conversation(aiohttp_client, make_app, store, photos) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    assert (await ask(client, "户口迁移要带什么材料"))["item"] == "户口迁移"

    front = await upload(client, photos["id_front"])
    assert front.status == 200, await front.text()
    body = await front.json()
    assert body["upload"]["kind"] == "id_card_front" and body["upload"]["material"] == "居民身份证"
    assert body["item"] == "户口迁移" and body["ai_generated"] is False and body["handoff"] is False
    assert "1. 居民身份证：需要核对（还缺身份证国徽面" in body["text"]
    assert "2. 居民户口簿：还没有收到" in body["text"] and body["text"].endswith(DISCLAIMER)

    await upload(client, photos["id_back_valid"])
    member = await (await upload(client, photos["hukou_member"])).json()
    assert "1. 居民身份证：已收到" in member["text"]
    assert "2. 居民户口簿：需要核对（不是户口簿首页" in member["text"]
    card = member["cards"][0]
    assert card["type"] == "review" and card["item"] == "户口迁移"
    statuses = {m["material"]: m["status"] for m in card["materials"]}
    assert statuses == {"居民身份证": "present", "居民户口簿": "problem", "落户依据材料": "missing",
                        "接收地户口簿或集体户口接收证明": "missing"}

    first = await (await upload(client, photos["hukou_first"])).json()
    assert "2. 居民户口簿：已收到" in first["text"]
    unrelated = await (await upload(client, photos["landscape"])).json()
    assert unrelated["upload"]["kind"] is None and "看起来不是证件或材料" in unrelated["text"]

    with store.session() as session:
        rows = session.exec(select(Upload).order_by(Upload.id)).all()
        assert [r.material for r in rows] == ["居民身份证", "居民身份证", "居民户口簿", "居民户口簿", None]
        assert {r.item_code for r in rows} == {"450000-GA-0005"} and {r.channel for r in rows} == {"web"}
        said = session.exec(select(TranscriptMessage).order_by(TranscriptMessage.id)).all()
    texts = [(m.role, store.vault.decrypt(m.text_enc)) for m in said]
    assert texts[2] == ("resident", f"〔上传材料〕JPG 图片，{len(photos['id_front']) // 1024} KB")
    assert texts[3][0] == "bot" and texts[3][1] == body["text"], "the reply is in the transcript staff read"


async def test_an_item_can_be_named_and_an_expired_card_is_reported(aiohttp_client, make_app, photos) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    await upload(client, photos["id_front"], item="450000-GA-0009")
    body = await (await upload(client, photos["id_back_expired"], item="450000-GA-0009")).json()
    assert body["item"] == "无犯罪记录证明开具"
    assert "1. 居民身份证：需要核对（身份证已于 2025-03-01 过期）" in body["text"]
    assert "2. 查询申请表：还没有收到（此类材料暂不能自动识别" in body["text"]
    unknown = await upload(client, photos["id_front"], item="NO-SUCH-ITEM")
    assert unknown.status == 400 and (await unknown.json())["error"] == "unknown_item"


async def test_without_an_item_the_document_is_named_and_the_item_asked_for(aiohttp_client, make_app, photos) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    body = await (await upload(client, photos["hukou_first"])).json()
    assert body["item"] is None and "识别为「居民户口簿（首页）」" in body["text"]
    assert "请告诉我您要办理的事项" in body["text"] and body["text"].endswith(DISCLAIMER)


async def test_size_type_and_broken_files_are_refused_and_nothing_is_stored(aiohttp_client, make_app, store, photos) -> None:  # type: ignore[no-untyped-def]
    settings = ChannelSettings(env="test", session_secret=SESSION_SECRET, max_material_bytes=64 * 1024)
    client = await aiohttp_client(make_app(settings))
    big = photos["landscape"] + b"\x00" * (64 * 1024)
    too_big = await upload(client, big)
    assert too_big.status == 413
    assert (await too_big.json())["message"] == "内容太大，请不要超过 64 KB"
    just_over = await upload(client, b"\xff\xd8\xff" + b"\x00" * (65 * 1024))  # caught while streaming
    assert just_over.status == 413
    garbage = await upload(client, b"this is a text file, not a photo" * 10, name="id.jpg")
    assert garbage.status == 415 and (await garbage.json())["message"] == "只能上传 JPG、PNG 图片或 PDF 文件"
    gif = await upload(client, b"GIF89a" + b"\x00" * 100, name="a.gif", content_type="image/gif")
    assert gif.status == 415
    broken = await upload(client, photos["id_front"][:3000])
    assert broken.status == 400 and "图片已损坏" in (await broken.json())["message"]
    empty = await client.post("/api/web/upload", data=FormData({"item": "450000-GA-0005"}), headers=XHR)
    assert empty.status == 400
    raw = await client.post("/api/web/upload", data=photos["id_front"], headers={**XHR, "Content-Type": "image/jpeg"})
    assert raw.status == 400 and "multipart" in (await raw.json())["message"]
    csrf = await client.post("/api/web/upload", data=form(photos["id_front"]))
    assert csrf.status == 403
    assert count(store) == 0, "a refused file leaves nothing behind"


async def test_files_are_sealed_at_rest_and_open_only_with_the_key(aiohttp_client, make_app, store, photos) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    body = await (await upload(client, photos["hukou_member"], item="450000-GA-0005")).json()
    upload_id = body["upload"]["id"]
    path = store.settings.data_dir / "tongban.db"
    with sqlite3.connect(path) as connection:
        (blob,) = connection.execute("SELECT blob_enc FROM upload WHERE id = ?", (upload_id,)).fetchone()
    database = path.read_bytes() + (path.with_name("tongban.db-wal").read_bytes()
                                    if path.with_name("tongban.db-wal").exists() else b"")
    photo = photos["hukou_member"]
    assert blob != photo and photo[200:264] not in blob and photo[200:264] not in database
    for secret in (APPLICANT, APPLICANT_ID, "覃海燕"):
        assert secret.encode() not in database, "no name or number in clear anywhere in the database"
    with store.session() as session:
        data, content_type, row = uploads.load(session, store.vault, upload_id)  # type: ignore[misc]
    assert data == photo and content_type == "image/jpeg" and row.size_bytes == len(photo)


# ------------------------------------------------------------------ the mini-program


@pytest.fixture
async def wechat(aiohttp_server) -> MockWeChat:  # type: ignore[no-untyped-def]
    mock = MockWeChat()
    server = await aiohttp_server(mock.app())
    mock.base = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return mock


async def test_mini_program_uploads_compare_the_card_with_the_verified_applicant(aiohttp_client, make_app, store, wechat, photos) -> None:  # type: ignore[no-untyped-def]
    settings = ChannelSettings(env="test", session_secret=SESSION_SECRET, wechat_api_base=wechat.base,  # type: ignore[attr-defined]
                               miniprogram_app_id=APP_ID, miniprogram_app_secret=APP_SECRET)
    client = await aiohttp_client(make_app(settings))
    wechat.add_code("code-1", "o-mini-review")
    token = (await (await client.post("/api/mp/login", json={"code": "code-1"})).json())["token"]
    with store.session() as session:  # verified (实名) earlier, as the mini-program's identity check does
        resolve(session, store.vault, channel="miniprogram", user_id="o-mini-review",
                identity=Identity(name=APPLICANT, id_number=APPLICANT_ID))
    bearer = {"Authorization": f"Bearer {token}"}

    refused = await client.post("/api/mp/upload", data=form(photos["id_front"], item="450000-GA-0006"))
    assert refused.status == 401

    mine = await client.post("/api/mp/upload", data=form(photos["id_front"], item="450000-GA-0006"), headers=bearer)
    assert mine.status == 200 and "姓名与申请人不一致" not in (await mine.json())["text"]
    other = await client.post("/api/mp/upload", data=form(photos["id_front_other"], item="450000-GA-0006"),
                              headers=bearer)
    text = (await other.json())["text"]
    assert "居民身份证：需要核对（证件上的姓名与申请人不一致；证件上的公民身份号码与申请人不一致" in text
    assert OTHER not in text and APPLICANT not in text
    with store.session() as session:
        rows = session.exec(select(Upload).order_by(Upload.id)).all()
    assert [r.review["facts"].get("name_matches") for r in rows] == [True, False]
    assert {r.channel for r in rows} == {"miniprogram"}


# ------------------------------------------------------------------ staff and retention


async def test_the_handoff_card_shows_the_review_and_staff_open_the_file_audited(aiohttp_client, make_app, store, photos) -> None:  # type: ignore[no-untyped-def]
    add_accounts(store)
    app = make_app()
    app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05)
    resident, staff = await aiohttp_client(app), await aiohttp_client(app)
    await ask(resident, "无犯罪记录证明怎么开")
    await upload(resident, photos["id_front"])
    await upload(resident, photos["id_back_expired"])
    assert (await ask(resident, "转人工"))["handoff"] is True
    held = await (await upload(resident, photos["id_back_valid"])).json()
    assert held["handoff"] is True and held["cards"] == [] and "工作人员会查看" in held["text"]

    headers = await sign_in(staff, "wangfang")
    (row,) = await queue(staff)
    conversation = await (await staff.get(f"/console/api/conversations/{row['handoff_id']}")).json()
    review = conversation["card"]["review"]
    assert conversation["card"]["item"]["name"] == "无犯罪记录证明开具"
    judged = {m["material"]: (m["status"], m["reasons"]) for m in review["materials"]}
    assert judged["居民身份证"] == ("present", []), "the valid back sent during the handoff counts"
    assert judged["查询申请表"] == ("missing", [])
    shown = review["uploads"]
    assert [u["kind_name"] for u in shown] == ["居民身份证（人像面）", "居民身份证（国徽面）", "居民身份证（国徽面）"]
    assert shown[1]["problems"] == ["身份证已于 2025-03-01 过期"] and shown[0]["facts"]["id_number_valid"] is True
    assert "仅供参考" in review["note"]
    lines = [m["text"] for m in conversation["messages"]]
    assert any(t.startswith("〔上传材料〕") for t in lines)

    refused = await staff.get(shown[0]["url"])
    assert refused.status == 404, "a material opens only for the staff member holding the conversation"
    assert (await act(staff, headers, row["handoff_id"], "claim")).status == 200
    opened = await staff.get(shown[0]["url"])
    assert opened.status == 200 and opened.content_type == "image/jpeg"
    assert await opened.read() == photos["id_front"] and opened.headers["Cache-Control"] == "no-store"
    with store.session() as session:
        logged = session.exec(select(AuditLog).where(AuditLog.action == "view_upload")).all()
    assert [(a.actor, a.entity_id) for a in logged] == [("staff:wangfang", str(shown[0]["id"]))]
    assert (await resident.get(shown[0]["url"])).status == 401, "residents and strangers cannot open files"
    assert (await staff.get("/console/api/uploads/999999")).status == 404
    assert headers


async def test_retention_deletes_uploads_after_their_own_period(aiohttp_client, make_app, store, photos) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    await upload(client, photos["id_front"], item="450000-GA-0006")
    await upload(client, photos["id_back_valid"], item="450000-GA-0006")
    with store.session() as session:
        old = session.exec(select(Upload).order_by(Upload.id)).first()
        old.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)  # type: ignore[union-attr]
        session.add(old)
    now = dt.datetime.now(dt.UTC)
    with store.session() as session:
        purged = purge_before(session, store.settings.data_dir, now - dt.timedelta(days=180),
                              uploads_before=now - dt.timedelta(days=30))
    assert purged.uploads == 1 and purged.transcript == 0, "uploads go sooner than the conversation"
    assert count(store) == 1


async def test_erasing_my_data_deletes_my_uploads(aiohttp_client, make_app, store, photos) -> None:  # type: ignore[no-untyped-def]
    me, neighbour = await aiohttp_client(make_app()), await aiohttp_client(make_app())
    mine = (await (await upload(me, photos["id_front"], item="450000-GA-0006")).json())["upload"]["id"]
    theirs = (await (await upload(neighbour, photos["id_front"], item="450000-GA-0006")).json())["upload"]["id"]
    assert "请确认" in (await ask(me, "删除我的信息"))["text"]
    await ask(me, "确认")
    with store.session() as session:
        assert [u.id for u in session.exec(select(Upload)).all()] == [theirs] and mine != theirs


@pytest.mark.slow  # a real browser
async def test_the_web_page_sends_a_photo_and_staff_see_the_review(aiohttp_server, make_app, store, photos, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip

    async_playwright = browser_or_skip()
    add_accounts(store)
    server = await aiohttp_server(make_app())
    photo = tmp_path / "身份证国徽面.jpg"
    photo.write_bytes(photos["id_back_expired"])
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 420, "height": 860}, locale="zh-CN")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(str(server.make_url("/")))
            await page.wait_for_selector("body[data-ready='1']")
            await page.fill("#text", "无犯罪记录证明怎么开")
            await page.click("#send")
            await page.locator(".card.item h3", has_text="无犯罪记录证明开具").wait_for(timeout=30_000)
            await page.set_input_files("#material-file", str(photo))
            review = page.locator(".card.review")
            await review.wait_for(timeout=30_000)
            assert await page.locator(".row.me .bubble").last.inner_text() == "上传材料（图片）：身份证国徽面.jpg"
            assert "材料预审 · 无犯罪记录证明开具" in await review.locator("h3").inner_text()
            problem = review.locator("dt.problem + dd")
            assert await problem.inner_text() == "居民身份证：身份证已于 2025-03-01 过期；还缺身份证人像面（有照片的一面）"
            assert await review.locator("dt.missing").count() == 1  # 查询申请表
            assert DISCLAIMER in await page.locator(".row.bot .bubble").last.inner_text()
            await page.screenshot(path=str(tmp_path / "upload.png"))

            # the resident asks for a person; staff see the pre-check on the card and open the photo
            await page.fill("#text", "转人工")
            await page.click("#send")
            await page.locator(".row.bot .bubble", has_text="已为您转接人工服务").wait_for(timeout=30_000)
            console = await browser.new_page(viewport={"width": 1360, "height": 860}, locale="zh-CN")
            console.on("pageerror", lambda exc: errors.append(str(exc)))
            await console.goto(str(server.make_url("/console")))
            await console.wait_for_selector("body[data-ready='1']")
            await console.fill("#username", "wangfang")
            await console.fill("#password", PASSWORD)
            await console.click("#signin-button")
            await console.locator(".queue-item").first.click()
            await console.click("#claim")  # materials open for the staff member holding the conversation
            review = console.locator("#card .review")
            await review.wait_for(timeout=15_000)
            assert "需核对居民身份证：身份证已于 2025-03-01 过期" in (await review.inner_text()).replace("\n", "")
            link = review.locator("a.open-upload")
            assert await link.count() == 1 and await link.get_attribute("target") == "_blank"
            opened = await console.request.get(str(server.make_url(await link.get_attribute("href") or "")))
            assert opened.ok and await opened.body() == photos["id_back_expired"]
            await console.screenshot(path=str(tmp_path / "console.png"))
            assert errors == []
        finally:
            await browser.close()
