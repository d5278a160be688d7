"""Public knowledge-base pages, `/kb/{key}`: the full answer an SMS or a shortened reply links to.

The entries are the operator's published FAQ and policy texts; server-rendered, script-free,
every value escaped, with the source the answer comes from.
"""

from __future__ import annotations

import asyncio
from html import escape

from aiohttp import web

from tongban.channels.app import keys
from tongban.memory import knowledge


def setup(app: web.Application) -> None:
    app.router.add_get("/kb/{key}", kb_page)


async def kb_page(request: web.Request) -> web.Response:
    key = request.match_info["key"][:128]
    if "\x00" in key:  # no entry's key, and PostgreSQL cannot look it up
        raise web.HTTPNotFound(text="没有这条问答。")
    store = request.app[keys.STORE]

    def load() -> tuple[str, str, str, str, str, str] | None:
        with store.read_session() as session:
            found = knowledge.entry(session, key)
            if found is None:
                return None
            row, source = found
            return row.title, row.text, row.department, row.origin, source, row.locator

    found = await asyncio.to_thread(load)
    if found is None:
        raise web.HTTPNotFound(text="没有这条问答。")
    title, text, department, origin, source, locator = found
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.splitlines() if p.strip())
    where = "，".join(x for x in (f"《{source}》{locator}", department, origin, f"编号 {key}") if x)
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title or '政策问答')}</title>
<style>body{{font:17px/1.7 sans-serif;margin:0 auto;max-width:720px;padding:12px;color:#222}}
h1{{font-size:21px;color:#07a35a}}small{{color:#666}}</style></head><body>
<h1>{escape(title or '政策问答')}</h1>{paragraphs}
<p><small>出处：{escape(where)}</small></p>
<p><small>以上内容供参考，以主管部门解释为准。</small></p></body></html>"""
    return web.Response(text=page, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
