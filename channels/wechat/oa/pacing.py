"""Agent turns a few at a time, and an honest guess of how long a new one would wait.

Without a gate every request starts a turn at once: under a burst the turns crowd the thread
pool and the database, and the acknowledgements (one short write each) wait behind them. With
the gate, turns queue here in arrival order, a turn starts only when no acknowledgement is
waiting to write, and a request whose turn cannot finish inside WeChat's passive window is
acknowledged immediately rather than at the deadline: its reply follows as a 客服消息 either way.

The guess is the queue ahead of a new message times how long a turn takes once it runs. The
time a started turn waits for acknowledgements is not a turn's duration: counted in, every
burst of acknowledgements inflated the estimate until messages that had a turn free were
acknowledged with `success` and pushed later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class TurnGate:
    def __init__(self, limit: int = 4, *, first_guess_s: float = 0.05) -> None:
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._queued = 0  # waiting for a slot or running
        self.mean_s = first_guess_s  # moving average of one turn's duration, from its start to its end
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
        """How long a turn asked for now would take to finish: the turns ahead of it, `limit` at
        a time, then its own."""
        return (self._queued // self.limit + 1) * self.mean_s

    async def run(self, turn: Callable[[], Awaitable[T]]) -> T:
        self._queued += 1
        try:
            async with self._slots:
                await self._clear.wait()
                loop = asyncio.get_running_loop()
                started = loop.time()
                try:
                    return await turn()
                finally:
                    self.mean_s = 0.8 * self.mean_s + 0.2 * (loop.time() - started)
        finally:
            self._queued -= 1
