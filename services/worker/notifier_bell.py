"""Ringing the notifier (arq job `deliver`, id `deliver:{id}`) for resolved events, batched.

Jobs resolving at the same moment share one Redis pipeline (queue.enqueue_deliver_many): a
batch is whatever piled up while the previous one was in flight, so an idle worker rings at
once and a busy one rings in bulk. Each job still waits for its own ring and sees its error,
so a Redis failure becomes the job's `Retry` exactly as a single enqueue did.
"""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis

from shared import queue


class NotifierBell:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._pending: list[tuple[int, asyncio.Future[bool]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def ring(self, event_id: int) -> bool:
        """True if newly queued; False if that deliver job was already queued or running."""
        rung: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((event_id, rung))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(), name="notifier-bell")
        return await rung

    async def _send(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._send_batch(batch)
        finally:
            self._sender = None

    async def _send_batch(self, batch: list[tuple[int, asyncio.Future[bool]]]) -> None:
        try:
            queued = set(await queue.enqueue_deliver_many(self.redis, [e for e, _ in batch]))
        except asyncio.CancelledError:
            for _, rung in batch:
                rung.cancel()
            raise
        except Exception as e:  # each waiting job turns it into its Retry
            for _, rung in batch:
                if not rung.done():
                    rung.set_exception(e)
            return
        for event_id, rung in batch:
            if not rung.done():
                rung.set_result(event_id in queued)
