"""The web chat's live path: a WebSocket the page keeps open, so staff messages reach it.

A reply to a question comes back on the POST that asked it; what staff write, and notices
such as "staff have joined", arrive later and unasked, so the page listens on
`/api/web/live`. The socket is the resident's own (the signed web cookie) and same-origin only.

With several replicas the page's socket is on one of them and staff may write on another, so a
message goes through the database (`memory.live`): written sealed and announced, claimed by
exactly one replica that holds one of the resident's pages, else kept until the page connects
again or polls `GET /api/web/live/pending`. Announcements are PostgreSQL NOTIFYs (LISTENed
here); every `live_sweep_s` each replica also looks for waiting messages of the pages it holds,
which covers SQLite shared by processes and a listener reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import WSMsgType, web

from tongban.channels.app import delivery, keys
from tongban.channels.app.chat_api import error, json_reply, same_origin
from tongban.channels.app.delivery import Queued
from tongban.memory import live as messages
from tongban.memory.db import is_postgres

log = logging.getLogger(__name__)

LIVE = web.AppKey("web_live", object)
REPLICA_HEADER = "X-Tongban-Replica"  # which replica holds the socket (the bench counts cross-replica deliveries)


class WebLive:
    """Open pages by web id; registered as the "web" output channel."""

    name = "web"

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._pages: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.sent = 0  # messages this replica sent to a page

    @property
    def replica(self) -> str:
        return self.app[keys.SETTINGS].replica_name

    def add(self, web_id: str, socket: web.WebSocketResponse) -> None:
        self._pages[web_id].add(socket)

    def discard(self, web_id: str, socket: web.WebSocketResponse) -> None:
        pages = self._pages.get(web_id)
        if pages is not None:
            pages.discard(socket)
            if not pages:
                del self._pages[web_id]
                self._locks.pop(web_id, None)

    def connected(self, web_id: str) -> bool:
        return bool(self._pages.get(web_id))

    async def send_text(self, recipient: str, text: str) -> None:
        await self.send_message(recipient, text, role="staff")

    async def send_message(
        self, recipient: str, text: str, *, role: str = "staff", staff_name: str | None = None,
        status: str | None = None,
    ) -> None:
        """Queue the message for the resident's page wherever it is; wait briefly to hear it arrived."""
        event: dict[str, Any] = {"type": "message", "role": role, "text": text, "staff_name": staff_name,
                                 "status": status}
        store = self.app[keys.STORE]

        def put() -> int:
            with store.session(actor="channel:web") as session:
                return messages.queue(session, store.vault, recipient, event)

        message_id = await asyncio.to_thread(put)
        if self.connected(recipient):
            await self.flush(recipient)
        if await self._delivered(message_id):
            return
        raise Queued(message_id)

    async def _delivered(self, message_id: int) -> bool:
        store = self.app[keys.STORE]
        deadline = asyncio.get_running_loop().time() + self.app[keys.SETTINGS].live_wait_s
        while True:
            with store.read_session() as session:
                if messages.claimed_by(session, message_id) is not None:
                    return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def flush(self, web_id: str) -> int:
        """Claim and send what waits for `web_id`, oldest first; released again if no page took it."""
        if not self.connected(web_id):
            return 0
        store = self.app[keys.STORE]
        async with self._locks[web_id]:

            def take() -> list[tuple[int, dict[str, Any]]]:
                with store.session(actor="channel:web") as session:
                    return messages.claim(session, store.vault, web_id, self.replica)

            claimed = await asyncio.to_thread(take)
            unsent: list[int] = []
            for message_id, event in claimed:
                if not await self._send(web_id, {**event, "id": message_id}):
                    unsent.append(message_id)
            if unsent:

                def put_back() -> None:
                    with store.session(actor="channel:web") as session:
                        messages.release(session, unsent)

                await asyncio.to_thread(put_back)
            self.sent += len(claimed) - len(unsent)
            return len(claimed) - len(unsent)

    async def _send(self, web_id: str, event: dict[str, Any]) -> bool:
        payload = json.dumps(event, ensure_ascii=False)
        sent = False
        for socket in list(self._pages.get(web_id, ())):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.send_str(payload)
                sent = True
        return sent

    async def sweep(self) -> None:
        """Messages for pages held here that no announcement brought (SQLite, a listener's gap)."""
        web_ids = list(self._pages)
        if not web_ids:
            return
        store = self.app[keys.STORE]

        def look() -> list[str]:
            with store.read_session() as session:
                return messages.waiting(session, web_ids)

        for web_id in await asyncio.to_thread(look):
            await self.flush(web_id)

    async def poll(self, web_id: str) -> list[dict[str, Any]]:
        """The page's poll: claim and return what waits (a page without a socket still gets it)."""
        store = self.app[keys.STORE]
        async with self._locks[web_id]:

            def take() -> list[tuple[int, dict[str, Any]]]:
                with store.session(actor="channel:web") as session:
                    return messages.claim(session, store.vault, web_id, self.replica)

            claimed = await asyncio.to_thread(take)
        if not self.connected(web_id):
            self._locks.pop(web_id, None)
        self.sent += len(claimed)
        return [{**event, "id": message_id} for message_id, event in claimed]


async def _listen(live: WebLive) -> None:
    """PostgreSQL LISTEN: each announcement names a web id; flush it if a page is held here."""
    import psycopg

    store = live.app[keys.STORE]
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                await connection.execute(f"LISTEN {messages.CHANNEL}")
                await live.sweep()  # what was announced while this listener was away
                async for note in connection.notifies():
                    if live.connected(note.payload):
                        await live.flush(note.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: the sweep covers the gap; listen again
            log.warning("live messages: listening failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(1.0)


async def _sweeping(live: WebLive) -> None:
    while True:
        await asyncio.sleep(live.app[keys.SETTINGS].live_sweep_s)
        try:
            await live.sweep()
        except Exception:  # a database hiccup must not end live delivery
            log.exception("live messages: sweep failed")


def setup(app: web.Application, web_id_of: Callable[[web.Request], str | None]) -> None:
    live = WebLive(app)
    app[LIVE] = live
    delivery.register(app, live)

    async def background(app: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_sweeping(live), name="web-live-sweep")]
        if is_postgres(app[keys.STORE].engine):
            tasks.append(asyncio.create_task(_listen(live), name="web-live-listen"))
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(background)

    async def socket(request: web.Request) -> web.StreamResponse:
        web_id = web_id_of(request)
        if web_id is None:
            return error(401, "unauthorized", "请先打开聊天页面")
        if not same_origin(request):
            return error(403, "cross_origin", "不允许跨站连接")
        ws = web.WebSocketResponse(heartbeat=30)
        ws.headers[REPLICA_HEADER] = live.replica
        await ws.prepare(request)
        live.add(web_id, ws)
        try:
            await live.flush(web_id)  # what staff wrote while no page was open
            async for message in ws:  # the page only listens; anything it sends is ignored
                if message.type == WSMsgType.ERROR:
                    break
        except asyncio.CancelledError:
            raise
        finally:
            live.discard(web_id, ws)
        return ws

    async def pending(request: web.Request) -> web.Response:
        web_id = web_id_of(request)
        if web_id is None:
            return error(401, "unauthorized", "请先打开聊天页面")
        return json_reply({"messages": await live.poll(web_id)})

    app.router.add_get("/api/web/live", socket)
    app.router.add_get("/api/web/live/pending", pending)
