"""After commit: ring the worker for a new export (arq job `export`, id `export:{id}`).

Best effort, like the alert doorbell: the export row is committed first, and when Redis is
away the worker's export sweep rings for any export still queued a few seconds later.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from shared import queue

log = structlog.get_logger(__name__)

ENQUEUE_TIMEOUT = 2.0


async def ring(redis: ArqRedis, export_id: uuid.UUID) -> None:
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT):
            await queue.enqueue_export_many(redis, [str(export_id)])
    except (RedisError, TimeoutError, OSError) as e:
        log.warning("export_ring_failed", export_id=str(export_id), error=repr(e))
