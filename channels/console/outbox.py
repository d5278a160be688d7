"""Sending to a resident from the console (staff replies, notices) and recording it.

The message goes out through the resident's own channel (`channels.app.delivery`) and is then
written to the transcript with whether it arrived, so staff see "未送达" rather than guess.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tongban.channels.app import delivery, keys
from tongban.channels.console.cards import line, masker
from tongban.memory import live, transcripts
from tongban.memory.models import Handoff, Resident
from tongban.memory.residents import Identity, identity_of


@dataclass(frozen=True)
class Target:
    handoff_id: int
    resident_id: int
    channel: str


def target(handoff: Handoff) -> Target:
    return Target(handoff.id or 0, handoff.resident_id, handoff.channel)


async def send(
    app: web.Application, to: Target, text: str, *, role: str, actor: str,
    staff: str | None = None, staff_name: str | None = None, status: str | None = None,
) -> dict[str, Any]:
    """Deliver `text` (unless it is an internal note) and append it; returns the console line."""
    store = app[keys.STORE]

    def address() -> tuple[str | None, Identity]:
        with store.read_session() as session:
            resident = session.get(Resident, to.resident_id)
            if resident is None:
                return None, Identity()
            return delivery.recipient_of(resident, to.channel, store.vault), identity_of(resident, store.vault)

    recipient, identity = await asyncio.to_thread(address)
    delivered: bool | None = None
    queued: int | None = None
    if role != "note":
        outcome = await delivery.deliver(app, to.channel, recipient, text, role=role, staff_name=staff_name,
                                         status=status)
        delivered, queued = outcome.delivered, outcome.queued

    def record() -> transcripts.Entry:
        with store.session(actor=actor) as session:
            row = transcripts.append(
                session, store.vault, resident_id=to.resident_id, role=role, channel=to.channel, text=text,
                handoff_id=to.handoff_id, staff=staff, delivered=delivered,
            )
            if queued is not None:  # marked delivered when the resident's page takes it
                live.link(session, queued, row.id or 0)
            return transcripts.get(session, store.vault, row.id or 0)  # type: ignore[return-value]

    entry = await asyncio.to_thread(record)
    poke = app.get(keys.STAFF_POKE)
    if callable(poke):
        poke()
    return line(entry, masker(identity))
