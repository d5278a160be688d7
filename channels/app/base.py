"""What every channel shares: output channels, AI labelling, background deliveries.

Channels are thin (after Rasa's channel base): verify, parse, turn the wire format into the
agent's `Inbound`, ask the injected agent (`agent.interface.Assistant`, under `keys.AGENT`),
render the `Reply`. Only `send_text` is required of an output channel; richer channels override
`send_reply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from tongban.agent.messages import AI_LABEL, Reply

log = logging.getLogger(__name__)


def labelled_text(reply: Reply) -> str:
    """The reply as plain text, labelled where a model wrote it (生成式人工智能标识)."""
    return f"{reply.text}\n{AI_LABEL}" if reply.ai_generated and reply.text else reply.text


class OutputChannel(Protocol):
    name: str

    async def send_text(self, recipient: str, text: str) -> None: ...


async def send_reply(channel: OutputChannel, recipient: str, reply: Reply) -> None:
    """Default rendering for text-only channels: the text, then the quick replies as a hint."""
    text = labelled_text(reply)
    if reply.quick_replies:
        text += "\n可回复：" + "、".join(reply.quick_replies[:4])
    await channel.send_text(recipient, text)


class Deliveries:
    """Background deliveries (replies that missed a passive window), awaited at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None], *, name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery %s failed: %r", task.get_name(), task.exception())

    async def drain(self, timeout: float = 30.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
