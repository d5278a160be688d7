"""Supervisors' knowledge-base page: upload FAQ sheets and documents, see and remove imported files.

An upload is read and stored at once (bad rows come back by line); the index is brought up
to date in the background, embedding only new or changed texts, and the agent answers from
the new entries as soon as that is done.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tongban.channels.app import keys
from tongban.channels.app.chat_api import NUL_REFUSED, error, has_nul, json_body, json_reply
from tongban.channels.console.auth import STAFF, actor
from tongban.memory import knowledge
from tongban.tools.kb.files import KINDS, UnreadableFile, parse

log = logging.getLogger(__name__)
MAX_FILE = 20 * 1024 * 1024


async def sources(request: web.Request) -> web.StreamResponse:
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]

    def load() -> dict[str, Any]:
        with store.read_session() as session:
            files = knowledge.list_sources(session)
        return {"files": files, "kinds": list(KINDS), "indexed": len(agent.knowledge)}

    return json_reply(await asyncio.to_thread(load))


async def upload(request: web.Request) -> web.StreamResponse:
    """POST multipart, part `file`: import it; the report lists what changed and the bad rows."""
    person = request[STAFF]
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    name, data = "", b""
    try:
        async for part in await request.multipart():
            if getattr(part, "name", None) == "file":
                name = unquote((part.filename or "").strip())  # type: ignore[union-attr]  # browsers may %-encode
                data = await part.read()  # type: ignore[union-attr]
                if len(data) > MAX_FILE:
                    return error(413, "too_large", f"文件不能超过 {MAX_FILE // 1024 // 1024} MB")
    except (ValueError, AssertionError, web.HTTPRequestEntityTooLarge):
        return error(400, "bad_request", "请用表单上传一个文件（file）")
    if not name or not data:
        return error(400, "no_file", "请选择要上传的文件")
    if has_nul(name):
        return error(400, "bad_request", NUL_REFUSED)
    name = name.replace("\\", "/").rsplit("/", 1)[-1][:255]

    def save() -> dict[str, Any]:
        parsed = parse(name, data)
        with store.session(actor=actor(person)) as session:
            report = knowledge.save_source(session, name=name, kind=parsed.kind, sha256=parsed.sha256,
                                           entries=parsed.entries, errors=parsed.errors, lines=parsed.lines)
        return {"name": name, "kind": report.kind, "added": report.added, "changed": report.changed,
                "unchanged": report.unchanged, "removed": report.removed,
                "errors": [{"line": line, "message": message} for line, message in report.errors[:200]],
                "error_count": len(report.errors)}

    try:
        body = await asyncio.to_thread(save)
    except UnreadableFile as exc:
        return error(400, "unreadable", str(exc))
    _reindex(agent)
    return json_reply(body)


async def remove(request: web.Request) -> web.StreamResponse:
    """POST {name}: the file and its entries leave the knowledge base."""
    person = request[STAFF]
    store, agent = request.app[keys.STORE], request.app[keys.AGENT]
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    name = str(body.get("name") or "")

    def drop() -> int:
        with store.session(actor=actor(person)) as session:
            return knowledge.remove_source(session, name)

    removed = await asyncio.to_thread(drop)
    if removed < 0:
        return error(404, "not_found", "没有这个知识库文件")
    _reindex(agent)
    return json_reply({"name": name, "removed": removed})


_TASKS: set[asyncio.Task[None]] = set()


def _reindex(agent: Any) -> None:
    """Embed new texts off the request; a failure is logged, the old index keeps answering."""

    async def run() -> None:
        try:
            await asyncio.to_thread(agent.knowledge.refresh, force=True)
        except Exception:
            log.exception("knowledge index refresh failed")

    task = asyncio.get_running_loop().create_task(run())
    _TASKS.add(task)  # keep a reference until it ends
    task.add_done_callback(_TASKS.discard)
