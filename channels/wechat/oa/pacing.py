"""Agent turns a few at a time, the ones that can still answer passively first, and an honest
guess of how long a new one would wait.

Without a gate every request starts a turn at once: under a burst the turns crowd the thread
pool and the database, and the acknowledgements (one short write each) wait behind them. With
the gate, turns queue here, a turn starts only when no acknowledgement is waiting to write, and
a request whose turn cannot finish inside WeChat's passive window is acknowledged immediately
rather than at the deadline: its reply follows as a 客服消息 either way.

A turn whose request still waits (`Ticket.passive`) goes before turns whose replies will be
pushed anyway: under a burst the machine spends itself on replies that can still go back
passively, and the pushed ones follow as the burst eases. One resident's messages never pass
each other: a turn waits behind any earlier turn of the same conversation still queued.

The guess is the passive turns ahead of a new message times how long a turn takes once it
runs. The time a started turn waits for acknowledgements is not a turn's duration: counted in,
every burst of acknowledgements inflated the estimate until messages that had a turn free were
acknowledged with `success` and pushed later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class Ticket:
    """A turn's conversation, and whether its request still waits for the reply (the webhook
    clears `passive` once it has acknowledged with `success`)."""

    key: str
    passive: bool = True


class TurnGate:
    def __init__(self, limit: int = 4, *, first_guess_s: float = 0.05) -> None:
        self.limit = limit
        self.mean_s = first_guess_s  # moving average of one turn's duration, from its start to its end
        self._running = 0
        self._waiting: list[tuple[Ticket, asyncio.Future[None]]] = []  # in arrival order
        self._urgent = 0  # acknowledgements waiting to write
        self._clear = asyncio.Event()
        self._clear.set()

    @contextlib.asynccontextmanager
    async def first(self) -> AsyncIterator[None]:
        """Work that goes before any turn not yet started: the acknowledgement's write, which
        otherwise waits for the interpreter (and SQLite's write lock) behind turns. Under a
        sustained burst turns wait; their replies follow as 客服消息 once it eases."""
        self._urgent += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._urgent -= 1
            if not self._urgent:
                self._clear.set()

    def expected_s(self) -> float:
        """How long a passive turn asked for now would take to finish: the turns running and the
        passive ones waiting, `limit` at a time, then its own."""
        ahead = self._running + sum(1 for ticket, _ in self._waiting if ticket.passive)
        return (ahead // self.limit + 1) * self.mean_s

    async def run(self, turn: Callable[[], Awaitable[T]], ticket: Ticket) -> T:
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((ticket, slot))
        self._grant()
        try:
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():  # granted as it was cancelled: hand it on
                self._running -= 1
            self._waiting = [(t, s) for t, s in self._waiting if s is not slot]
            self._grant()
            raise
        loop = asyncio.get_running_loop()
        try:
            await self._clear.wait()
            started = loop.time()
            try:
                return await turn()
            finally:
                self.mean_s = 0.8 * self.mean_s + 0.2 * (loop.time() - started)
        finally:
            self._running -= 1
            self._grant()

    def _grant(self) -> None:
        while self._running < self.limit and (chosen := self._next()) is not None:
            self._waiting.remove(chosen)
            self._running += 1
            chosen[1].set_result(None)

    def _next(self) -> tuple[Ticket, asyncio.Future[None]] | None:
        """The oldest passive turn not behind its own conversation, else the oldest turn."""
        oldest = None
        seen: set[str] = set()
        for entry in self._waiting:
            ticket = entry[0]
            if ticket.key in seen:
                continue  # an earlier message of this conversation goes first
            seen.add(ticket.key)
            if ticket.passive:
                return entry
            oldest = oldest or entry
        return oldest
