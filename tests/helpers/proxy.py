"""A TCP proxy on loopback that can be cut and restored: a dependency disappearing for real.

Cutting closes the listening socket and drops every open connection mid-stream, so clients
see what they see when a database or Redis host goes away (refused connections, broken
sockets), not a polite shutdown. Restoring listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.helpers.harness import free_port


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Proxy:
        await self.restore()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.cut()

    async def restore(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(upstream_writer)
