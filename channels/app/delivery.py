"""Reaching a resident outside a reply: staff messages and notices, through their own channel.

Each channel module registers one `OutputChannel` under its channel name in `setup(app)`:

    from tongban.channels.app import delivery
    delivery.register(app, MyOutput())   # MyOutput.name == "wechat"; async send_text(recipient, text)

`send_text` raises `NotDelivered` (or any exception) when the resident cannot be reached now
— a web page that is closed, WeChat's 48-hour window shut. A channel with no registered sender
is not an error: the message stays in the transcript and the console shows it as undelivered.
An output may also define `send_message(recipient, text, *, role, staff_name, status)` to tell
a live page who wrote and whether staff still hold the conversation (the web chat does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from tongban.channels.app import keys
from tongban.channels.app.base import OutputChannel
from tongban.memory.channel import Channel, column_of
from tongban.memory.models import Resident
from tongban.memory.pii import Vault

log = logging.getLogger(__name__)

class NotDelivered(RuntimeError):
    """The channel could not reach the resident now; the message is kept as undelivered."""


class Queued(NotDelivered):
    """Not delivered yet but kept for the resident (the web page's next connection or poll);
    `message_id` is the waiting message (memory.live), linked to its transcript row so that
    the row is marked delivered when it arrives."""

    def __init__(self, message_id: int) -> None:
        super().__init__("kept for the resident's next visit")
        self.message_id = message_id


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    why: str = ""  # no_sender | no_recipient | failed | queued
    queued: int | None = None  # the waiting message (memory.live) when why == "queued"


def register(app: web.Application, channel: OutputChannel) -> None:
    app[keys.DELIVERY_CHANNELS][channel.name] = channel


def sender(app: web.Application, name: str) -> OutputChannel | None:
    return app.get(keys.DELIVERY_CHANNELS, {}).get(name)


def recipient_of(resident: Resident, channel: str, vault: Vault) -> str | None:
    """The resident's address on a channel: openid, web id, or the phone for SMS."""
    if channel == Channel.SMS:
        return vault.decrypt(resident.phone_enc)
    column = column_of(channel)
    return getattr(resident, column) if column else None


async def deliver(
    app: web.Application, channel: str, recipient: str | None, text: str, *,
    role: str = "staff", staff_name: str | None = None, status: str | None = None,
) -> Outcome:
    output = sender(app, channel)
    if output is None:
        return Outcome(False, "no_sender")
    if not recipient:
        return Outcome(False, "no_recipient")
    try:
        rich = getattr(output, "send_message", None)
        if rich is not None:
            await rich(recipient, text, role=role, staff_name=staff_name, status=status)
        else:
            await output.send_text(recipient, text)
    except Queued as queued:
        return Outcome(False, "queued", queued.message_id)
    except NotDelivered:
        return Outcome(False, "failed")
    except Exception as exc:  # a channel's own failure: kept as undelivered, never lost
        log.warning("delivery on %s failed: %s", channel, type(exc).__name__)
        return Outcome(False, "failed")
    return Outcome(True)
