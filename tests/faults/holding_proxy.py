"""A TCP proxy in front of ingest that can swallow ingest's answers: with `holding` set, a
request reaches ingest and is served, but the client never hears back. Killing ingest then
leaves the client exactly where a kill between commit and answer would: in doubt."""

from __future__ import annotations

import asyncio
import contextlib


class HoldingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.holding = False
        self.swallowed = 0  # bytes of answers the client never got
        self._server: asyncio.Server | None = None

    async def start(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True)
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if answers and self.holding:
                    self.swallowed += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        writer.close()
