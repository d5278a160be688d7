"""The web chat's live path: a WebSocket the page keeps open, so staff messages reach it.

A reply to a question comes back on the POST that asked it; what staff write, and notices
such as "staff have joined", arrive later and unasked, so the page listens on
`/api/web/live`. The socket is the resident's own (the signed web cookie) and same-origin only.
This process's open sockets are the web channel's `OutputChannel`: with no page open the
message is not delivered, and the console says so. (Several replicas need sticky sessions for
the web chat, or a shared bus in place of this in-process registry.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tongban.channels.app import delivery
from tongban.channels.app.chat_api import error, same_origin
from tongban.channels.app.delivery import NotDelivered

log = logging.getLogger(__name__)

LIVE = web.AppKey("web_live", object)


class WebLive:
    """Open pages by web id; registered as the "web" output channel."""

    name = "web"

    def __init__(self) -> None:
        self._pages: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, web_id: str, socket: web.WebSocketResponse) -> None:
        self._pages[web_id].add(socket)

    def discard(self, web_id: str, socket: web.WebSocketResponse) -> None:
        pages = self._pages.get(web_id)
        if pages is not None:
            pages.discard(socket)
            if not pages:
                del self._pages[web_id]

    def connected(self, web_id: str) -> bool:
        return bool(self._pages.get(web_id))

    async def send_text(self, recipient: str, text: str) -> None:
        await self.send_message(recipient, text, role="staff")

    async def send_message(
        self, recipient: str, text: str, *, role: str = "staff", staff_name: str | None = None,
        status: str | None = None,
    ) -> None:
        event: dict[str, Any] = {"type": "message", "role": role, "text": text, "staff_name": staff_name,
                                 "status": status}
        payload = json.dumps(event, ensure_ascii=False)
        sent = 0
        for socket in list(self._pages.get(recipient, ())):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.send_str(payload)
                sent += 1
        if not sent:
            raise NotDelivered("the resident has no page open")


def setup(app: web.Application, web_id_of: Callable[[web.Request], str | None]) -> None:
    live = WebLive()
    app[LIVE] = live
    delivery.register(app, live)

    async def socket(request: web.Request) -> web.StreamResponse:
        web_id = web_id_of(request)
        if web_id is None:
            return error(401, "unauthorized", "请先打开聊天页面")
        if not same_origin(request):
            return error(403, "cross_origin", "不允许跨站连接")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        live.add(web_id, ws)
        try:
            async for message in ws:  # the page only listens; anything it sends is ignored
                if message.type == WSMsgType.ERROR:
                    break
        except asyncio.CancelledError:
            raise
        finally:
            live.discard(web_id, ws)
        return ws

    app.router.add_get("/api/web/live", socket)
