"""The arq hand-over between services: queue names, job names, payloads, job ids.

Jobs are doorbells carrying ids only; PostgreSQL holds the work. Job ids are deterministic, so a
second enqueue of the same work while it is queued or running is refused by arq (returns None),
and every job is safe to run twice.

    ingest/relay --resolve_event(event_id)--> worker --deliver(event_id)--> notifier
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool

log = structlog.get_logger(__name__)

WORKER_QUEUE = "beacon:worker"
NOTIFIER_QUEUE = "beacon:notifier"
RESOLVE_EVENT = "resolve_event"
DELIVER = "deliver"


def resolve_job_id(event_id: int) -> str:
    return f"event:{event_id}"


def deliver_job_id(event_id: int) -> str:
    return f"deliver:{event_id}"


def serialize(job: dict[str, Any]) -> bytes:
    # JSON, not arq's default pickle: payloads are ids, and unpickling is code execution.
    return json.dumps(job, default=str).encode()


def deserialize(data: bytes) -> dict[str, Any]:
    return json.loads(data)  # type: ignore[no-any-return]


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 1
    return settings


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url), job_serializer=serialize,
                             job_deserializer=deserialize, default_queue_name=WORKER_QUEUE)


async def enqueue_resolve(redis: ArqRedis, event_id: int) -> bool:
    """Ring the worker's doorbell for one outbox event. False: already queued or running."""
    job = await redis.enqueue_job(RESOLVE_EVENT, event_id, _job_id=resolve_job_id(event_id),
                                  _queue_name=WORKER_QUEUE)
    return job is not None


async def enqueue_deliver(redis: ArqRedis, event_id: int) -> bool:
    job = await redis.enqueue_job(DELIVER, event_id, _job_id=deliver_job_id(event_id),
                                  _queue_name=NOTIFIER_QUEUE)
    return job is not None


async def warn_if_redis_unsafe(redis: ArqRedis) -> list[str]:
    """Every arq key has a TTL: any maxmemory policy but noeviction can silently drop jobs,
    and without AOF a restart loses the queue. Returns (and logs) the warnings."""
    warnings: list[str] = []
    try:
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy")
        aof = (await redis.config_get("appendonly")).get("appendonly")
    except Exception as e:  # CONFIG may be disabled on managed Redis; say so, do not fail.
        warnings.append(f"cannot read Redis configuration: {e!r}")
    else:
        if policy != "noeviction":
            warnings.append(f"Redis maxmemory-policy is {policy!r}; set noeviction")
        if aof != "yes":
            warnings.append("Redis appendonly is off; queued jobs are lost on restart "
                            "(the outbox relay re-sends them, with delay)")
    for w in warnings:
        log.warning("redis_unsafe", detail=w)
    return warnings
