"""The staff console at `/console`: hall staff take over conversations the bot hands off.

Sign in, see the queue of conversations waiting (by hall or department, with waiting time),
claim one, read its full transcript beside the handoff card, reply through the resident's own
channel, leave internal notes, and hand the conversation back to the bot or close it. The bot
stays silent while staff hold a conversation. Plain HTML, CSS and JS: no build step, no CDN.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tongban.channels.app import keys
from tongban.channels.app.ratelimit import Policy
from tongban.channels.console import api, auth, kb, live, questions
from tongban.channels.console.settings import ConsoleSettings

STATIC = Path(__file__).with_name("static")
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def setup(app: web.Application) -> None:
    app[auth.CONSOLE_SETTINGS] = ConsoleSettings()
    hub = live.ConsoleHub(app)
    app[live.HUB] = hub
    app[keys.STAFF_POKE] = hub.poke
    door = app[keys.RATE_LIMITS]
    door.limit("/console/api/sign-in", Policy("sign-in", "rate_sign_in_address", body="max_json_bytes"))
    door.limit("/console/api/", Policy("console", "rate_address", body="max_json_bytes"))
    door.bucket("sign-in", "rate_sign_in_account")  # per account name and address, asked in auth.sign_in
    app.cleanup_ctx.append(live.background)
    r = app.router
    r.add_get("/console", page)
    r.add_get("/console/", page)
    r.add_get("/console/questions", questions_page)
    r.add_get("/console/kb", kb_page)
    r.add_static("/console/static/", STATIC, append_version=False)
    r.add_get("/console/ws", live.socket)
    r.add_get("/console/api/me", auth.me)
    r.add_post("/console/api/sign-in", auth.sign_in)
    r.add_post("/console/api/sign-out", auth.require(auth.sign_out, post=True))
    r.add_get("/console/api/queue", auth.require(api.queue))
    r.add_get("/console/api/figures", auth.require(api.figures, supervisor=True))
    r.add_get("/console/api/alerts", auth.require(api.alerts))
    r.add_get("/console/api/audio/{message_id}", auth.require(api.audio))
    r.add_get("/console/api/uploads/{upload_id}", auth.require(api.upload))
    r.add_get("/console/api/questions", auth.require(questions.report, supervisor=True))
    r.add_post("/console/api/questions/keyword", auth.require(questions.add_keyword, post=True, supervisor=True))
    r.add_get("/console/api/kb", auth.require(kb.sources, supervisor=True))
    r.add_post("/console/api/kb", auth.require(kb.upload, post=True, supervisor=True))
    r.add_post("/console/api/kb/remove", auth.require(kb.remove, post=True, supervisor=True))
    r.add_get("/console/api/learned", auth.require(questions.learned, supervisor=True))
    r.add_post("/console/api/learned/remove", auth.require(questions.remove_learned, post=True, supervisor=True))
    base = "/console/api/conversations/{handoff_id}"
    r.add_get(base, auth.require(api.conversation))
    for action, handler in (("claim", api.claim), ("reply", api.reply), ("note", api.note),
                            ("hand-back", api.hand_back), ("close", api.close)):
        r.add_post(f"{base}/{action}", auth.require(handler, post=True))
    r.add_post(f"{base}/reveal", auth.require(api.reveal, post=True, supervisor=True))
    r.add_post(f"{base}/correct", auth.require(questions.correct, post=True))


async def page(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


async def kb_page(_request: web.Request) -> web.StreamResponse:
    """The supervisors' knowledge base; like the question review, its data calls check the role."""
    return web.FileResponse(STATIC / "kb.html", headers=PAGE_HEADERS)


async def questions_page(_request: web.Request) -> web.StreamResponse:
    """The supervisors' question review; its data calls check the role, the page itself is static."""
    return web.FileResponse(STATIC / "questions.html", headers=PAGE_HEADERS)
