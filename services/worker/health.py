"""Worker liveness for a compose healthcheck (`beacon worker --check`).

Every poll of a live worker refreshes HEALTH_KEY in Redis with a TTL of a few seconds
(arq's health check, see main.worker_settings); a worker that died or stopped consuming
(python-arq/arq#435) lets it expire.
"""

from __future__ import annotations

import asyncio

import structlog

from shared import queue
from shared.config import Settings

log = structlog.get_logger(__name__)

HEALTH_KEY = f"{queue.WORKER_QUEUE}:health-check"
HEALTH_INTERVAL_SECONDS = 5


async def check(settings: Settings) -> bool:
    try:
        redis = await queue.connect(settings.redis_url)
    except Exception as e:  # Redis unreachable: the worker cannot be healthy.
        log.warning("worker_health_unreachable", error=repr(e))
        return False
    try:
        async with asyncio.timeout(3):
            return bool(await redis.get(HEALTH_KEY))
    except Exception as e:
        log.warning("worker_health_unreachable", error=repr(e))
        return False
    finally:
        await redis.aclose()
