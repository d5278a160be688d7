"""Live updates for the console (`/console/ws`) and the check for residents left waiting.

The hub reads the database, not in-process events: a resident's message may be handled by
another replica, so every `console_poll_s` it looks for new transcript rows and for changes to
the open handoffs, and pushes them (masked) to the signed-in staff connected here. A write made
in this process wakes it at once.

Only messages of handed-off conversations are pushed, and each only to staff whose scope covers
its handoff or who hold it (`channels.console.scope`); a resident who never asked for a person
never appears. Nothing from before a socket connected is replayed: the page loads history through
the API, which checks scope per conversation. A socket lasts only as long as its session: each
round the hub reads every socket's session again, closes those signed out, expired or deactivated,
and applies the others' scope as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from sqlmodel import col, select

from tongban.channels.app import keys
from tongban.channels.app.chat_api import error, same_origin
from tongban.channels.console import outbox
from tongban.channels.console.auth import COOKIE, current_staff, settings_of
from tongban.channels.console.cards import line, masker, place_of
from tongban.memory import staff, transcripts
from tongban.memory.models import Handoff, HandoffStatus, Resident, utcnow
from tongban.memory.residents import Identity, identity_of
from tongban.memory.staff import StaffView
from tongban.tools.handoff import UNCLAIMED_NOTICE, mark_notified, staffed, unclaimed

log = logging.getLogger(__name__)

Place = tuple[str | None, str | None, str | None]  # a handoff's hall, department and holder
_REREAD = 50  # ids below the newest seen are read again: PostgreSQL may commit them out of order


@dataclass
class Listener:
    """Who listens on a socket, and the session they opened it with (checked every round)."""

    person: StaffView
    token: str


class ConsoleHub:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.sockets: dict[web.WebSocketResponse, Listener] = {}
        self._last_id: int | None = None
        self._seen: deque[int] = deque(maxlen=2000)
        self._signature: tuple[Any, ...] | None = None
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        interval = settings_of(self.app).console_poll_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            if not self.sockets:
                self._last_id = None  # nobody listening: start from the present when someone joins
                continue
            try:
                await self._recheck()
                for event, place in await asyncio.to_thread(self._read):
                    await self.broadcast(event, place)
            except Exception:  # a database hiccup must not end live updates
                log.exception("console live update failed")

    async def broadcast(self, event: dict[str, Any], place: Place | None = None) -> None:
        """To every socket here, or (with `place`) to those whose staff may see that handoff."""
        payload = json.dumps(event, ensure_ascii=False)
        for socket, listener in list(self.sockets.items()):
            if place is not None and not listener.person.may_see(place[0], place[1], holder=place[2]):
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.send_str(payload)

    async def _recheck(self) -> None:
        """Close the sockets whose session has ended (signed out, expired, the account deactivated,
        on any replica); the others go on with their staff member's scope as it is now."""
        store = self.app[keys.STORE]
        tokens = {ws: listener.token for ws, listener in self.sockets.items()}

        def load() -> dict[web.WebSocketResponse, StaffView | None]:
            with store.read_session() as session:
                return {ws: staff.session_staff(session, token) for ws, token in tokens.items()}

        for ws, person in (await asyncio.to_thread(load)).items():
            listener = self.sockets.get(ws)
            if listener is None:
                continue  # gone meanwhile
            if person is None:
                del self.sockets[ws]
                await ws.close()
            else:
                listener.person = person

    def _read(self) -> list[tuple[dict[str, Any], Place | None]]:
        store, agent = self.app[keys.STORE], self.app[keys.AGENT]
        events: list[tuple[dict[str, Any], Place | None]] = []
        with store.read_session() as session:
            if self._last_id is None:  # the first listener: from now on, nothing older
                self._last_id = transcripts.latest_id(session)
                self._seen.clear()
                self._seen.extend(e.id for e in transcripts.since(session, store.vault, max(0, self._last_id - _REREAD)))
            fresh = [e for e in transcripts.since(session, store.vault, max(0, self._last_id - _REREAD))
                     if e.id not in self._seen]
            identities: dict[int, Identity] = {}
            places: dict[int, Place | None] = {}
            for entry in fresh:
                self._seen.append(entry.id)
                self._last_id = max(self._last_id, entry.id)
                if entry.handoff_id is None:
                    continue  # not handed off: no staff member needs it
                if entry.handoff_id not in places:
                    handoff = session.get(Handoff, entry.handoff_id)
                    places[entry.handoff_id] = (*place_of(session, agent, handoff), handoff.staff) if handoff else None
                place = places[entry.handoff_id]
                if place is None:
                    continue
                if entry.resident_id not in identities:
                    resident = session.get(Resident, entry.resident_id)
                    identities[entry.resident_id] = identity_of(resident, store.vault) if resident else Identity()
                events.append(({"type": "message", "message": line(entry, masker(identities[entry.resident_id]))},
                               place))
            signature = tuple(session.exec(
                select(Handoff.id, Handoff.status, Handoff.staff).where(col(Handoff.status) != HandoffStatus.CLOSED)
                .order_by(col(Handoff.id))
            ).all())
        if signature != self._signature:
            self._signature = signature
            events.append(({"type": "queue"}, None))
        return events


HUB = web.AppKey("console_hub", ConsoleHub)


async def socket(request: web.Request) -> web.StreamResponse:
    person = await current_staff(request)
    if person is None:
        return error(401, "unauthorized", "请先登录")
    if not same_origin(request):
        return error(403, "cross_origin", "不允许跨站连接")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub = request.app[HUB]
    hub.sockets[ws] = Listener(person, request.cookies.get(COOKIE, ""))
    hub.poke()
    try:
        async for message in ws:  # the page only listens
            if message.type == WSMsgType.ERROR:
                break
    finally:
        hub.sockets.pop(ws, None)
    return ws


async def tell_unclaimed(app: web.Application, now: dt.datetime | None = None) -> int:
    """During staffed hours, tell residents nobody has taken up yet what they can do; once each."""
    now = now or utcnow()
    if not staffed(now):
        return 0  # out of hours they were told when they were handed off
    settings, store = settings_of(app), app[keys.STORE]

    def pick() -> list[outbox.Target]:
        with store.session(actor="system:console") as session:
            waiting = unclaimed(session, waited_since=now - dt.timedelta(seconds=settings.console_unclaimed_after_s))
            return [outbox.target(h) for h in waiting if mark_notified(session, h.id or 0, now)]

    picked = await asyncio.to_thread(pick)
    for to in picked:
        await outbox.send(app, to, UNCLAIMED_NOTICE, role="system", actor="system:console", status="waiting")
    return len(picked)


async def background(app: web.Application) -> AsyncIterator[None]:
    """The hub and the waiting check, for the app's lifetime (a cleanup context)."""
    hub = app[HUB]

    async def check() -> None:
        while True:
            await asyncio.sleep(settings_of(app).console_check_interval_s)
            try:
                await tell_unclaimed(app)
            except Exception:
                log.exception("checking unclaimed handoffs failed")

    tasks = [asyncio.create_task(hub.run(), name="console-hub"), asyncio.create_task(check(), name="console-check")]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for ws in list(hub.sockets):
        await ws.close()
