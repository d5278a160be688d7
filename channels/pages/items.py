"""Public 办事指南 pages, `/items/{code}`: what SMS replies and shared links point to.

Server-rendered and script-free so they open on any phone browser; every value is escaped.
"""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

from aiohttp import web

from tongban.channels.app import keys
from tongban.tools.detail import service_detail


def setup(app: web.Application) -> None:
    app.router.add_get("/items/{code}", item_page)


async def item_page(request: web.Request) -> web.Response:
    code = request.match_info["code"][:64]
    if "\x00" in code:  # no item's code, and PostgreSQL cannot look it up
        raise web.HTTPNotFound(text="没有这个事项。")
    store = request.app[keys.STORE]

    def load() -> dict[str, Any] | None:
        with store.read_session() as session:
            return service_detail(session, code)

    detail = await asyncio.to_thread(load)
    if detail is None:
        raise web.HTTPNotFound(text="没有这个事项。")
    return web.Response(text=render(detail), content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def render(d: dict[str, Any]) -> str:
    def items(values: list[str]) -> str:
        return "".join(f"<li>{escape(v)}</li>" for v in values)

    materials = [f"{m['name']}（{m['form']}{'，' + str(m['count']) + '份' if m.get('count', 1) > 1 else ''}）"
                 + ("" if m.get("required", True) else "（视情况提供）") for m in d.get("materials", [])]
    limits = []
    if d.get("promised_limit_days") is not None:
        limits.append("当场办结" if d["promised_limit_days"] == 0 else f"承诺{d['promised_limit_days']}个工作日")
    if d.get("statutory_limit_days") is not None:
        limits.append(f"法定{d['statutory_limit_days']}日")
    halls = [f"{h['name']}：{h['address']}（{h['phone']}）" for h in d.get("halls", [])]
    faqs = "".join(f"<dt>{escape(f['q'])}</dt><dd>{escape(f['a'])}</dd>" for f in d.get("faqs", []))
    online = "、".join(d.get("online", [])) or "需到大厅现场办理"
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(d['name'])} - 办事指南</title>
<style>body{{font:17px/1.6 sans-serif;margin:0 auto;max-width:720px;padding:12px;color:#222}}
h1{{font-size:22px;color:#07a35a}}h2{{font-size:18px;border-left:4px solid #07a35a;padding-left:8px}}
small{{color:#666}}dt{{font-weight:bold;margin-top:8px}}</style></head><body>
<h1>{escape(d['name'])}</h1><small>事项编码 {escape(d['code'])} · {escape(d['department'])}</small>
<p>{escape(d.get('description', ''))}</p>
<h2>设定依据</h2><ul>{items(d.get('legal_basis', []))}</ul>
<h2>申请条件</h2><p>{escape(d.get('applicants') or '请咨询窗口')}</p>
<h2>申请材料</h2><ol>{items(materials)}</ol>
<h2>办理流程</h2><ol>{items(d.get('steps', []))}</ol>
<h2>收费与时限</h2><p>收费：{escape(d.get('fee') or '不收费')}；时限：{escape('，'.join(limits) or d.get('time_limit_note') or '以窗口告知为准')}</p>
<h2>办理地点</h2><ul>{items(halls)}</ul><p>网上办理：{escape(online)}{'；可邮寄' if d.get('mail') else ''}</p>
<h2>常见问题</h2><dl>{faqs}</dl>
<p><small>以上内容供参考，以政务服务中心窗口告知为准。</small></p></body></html>"""
