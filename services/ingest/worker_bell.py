"""After commit: ring the worker's doorbell (arq job `resolve_event`, id `event:{id}`).

The outbox row is durable before the 201, so ringing is best effort by design: when Redis is
away the request still succeeds and the worker's relay rings for any event not marked here
within a second. Rings are batched by one background task: a batch goes to Redis as one
pipeline (queue.enqueue_resolve_many: the same atomic "enqueue unless queued or finished" step
arq's `enqueue_job` performs), then is marked in one UPDATE. Per-request
arq enqueues (three round trips each) were the largest cost on the hot path.

Pending rings are bounded: past MAX_PENDING they are left to the relay, so a slow Redis never
makes alert work pile up in this process's memory.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from shared import database, queue

log = structlog.get_logger(__name__)

ENQUEUE_TIMEOUT = 2.0
MAX_PENDING = 10_000
# After a Redis failure, stop ringing for a moment: the relay covers the gap.
PAUSE_AFTER_FAILURE = 1.0

_MARK = """
UPDATE alert_events
SET enqueued_at = now(),
    enqueue_count = enqueue_count + CASE WHEN id = ANY($2::bigint[]) THEN 1 ELSE 0 END
WHERE id = ANY($1::bigint[])
"""


class WorkerBell:
    def __init__(self, redis: ArqRedis, pool: asyncpg.Pool) -> None:
        self.redis = redis
        self.pool = pool
        self._pending: list[int] = []
        self._urgent: set[int] = set()
        self._wake = asyncio.Event()
        self._paused_until = 0.0

    def ring(self, event_id: int, urgent: bool = False) -> None:
        """`urgent`: a restricted incident's event, resolved ahead of a routine backlog."""
        if len(self._pending) >= MAX_PENDING or time.monotonic() < self._paused_until:
            return  # the relay rings for it
        self._pending.append(event_id)
        if urgent:
            self._urgent.add(event_id)
        self._wake.set()

    async def run(self) -> None:
        """Ring pending events until cancelled; each batch is whatever piled up meanwhile."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        urgent, self._urgent = self._urgent, set()
        if not batch:
            return
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                new = await self._enqueue(batch, urgent)
        except (RedisError, OSError, TimeoutError) as e:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            log.warning("enqueue_failed", events=len(batch), error=repr(e))
            return
        try:
            await self.pool.execute(_MARK, batch, new, timeout=5)
        except database.QUERY_FAILED as e:
            # Unmarked events are rung again by the relay; arq refuses the duplicate.
            log.warning("enqueue_mark_failed", events=len(batch), error=repr(e))

    async def _enqueue(self, batch: list[int], urgent: set[int]) -> list[int]:
        """Returns the events newly queued; the rest were already queued or finished."""
        return await queue.enqueue_resolve_many(self.redis, batch, urgent)
