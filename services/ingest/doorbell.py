"""After commit: ring the worker's doorbell (arq job `event:{id}`) and note the hand-over.

The outbox row is already durable, so this is best effort by design: when Redis is down the
request still succeeds and the worker's relay hands the event over later. Marks
(`enqueued_at`) are written in batches by one background task to keep the request path to a
single database round trip; a mark lost in a crash only means the relay rings again, which
the deterministic job id and the idempotent worker absorb.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from shared import queue

log = structlog.get_logger(__name__)

ENQUEUE_TIMEOUT = 1.0
# After a Redis failure, skip enqueueing for a moment: the relay covers the gap, and requests
# do not each pay a connection timeout while Redis is away.
PAUSE_AFTER_FAILURE = 1.0

_MARK = """UPDATE alert_events SET enqueued_at = now(), enqueue_count = enqueue_count + 1
           WHERE id = ANY($1::bigint[])"""


class Doorbell:
    def __init__(self, redis: ArqRedis, pool: asyncpg.Pool) -> None:
        self.redis = redis
        self.pool = pool
        self._marks: list[int] = []
        self._wake = asyncio.Event()
        self._paused_until = 0.0

    async def ring(self, event_id: int) -> bool:
        """Enqueue resolve_event(event_id); False if Redis could not take it now."""
        if time.monotonic() < self._paused_until:
            return False
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                await queue.enqueue_resolve(self.redis, event_id)
        except (RedisError, OSError, TimeoutError) as e:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            log.warning("enqueue_failed", event_id=event_id, error=repr(e))
            return False
        self._marks.append(event_id)
        self._wake.set()
        return True

    async def run(self) -> None:
        """Write pending marks until cancelled; each batch is whatever piled up meanwhile."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._marks = self._marks, []
        if not batch:
            return
        try:
            await self.pool.execute(_MARK, batch, timeout=5)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
            log.warning("enqueue_mark_failed", events=len(batch), error=repr(e))
