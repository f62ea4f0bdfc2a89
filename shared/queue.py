"""The arq hand-over between services: queue names, job names, payloads, job ids.

Jobs are doorbells carrying ids only; PostgreSQL holds the work. Job ids are deterministic, so a
second enqueue of the same work while it is queued or running is refused by arq (returns None),
and every job is safe to run twice.

    ingest/relay --resolve_event(event_id)--> worker --deliver(event_id)--> notifier
    ingest/export sweep --export(export_id)--> worker (renders, stores, emails "ready")
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from shared.config import SENTINEL_SCHEMES, url_hosts

log = structlog.get_logger(__name__)

WORKER_QUEUE = "beacon:worker"
NOTIFIER_QUEUE = "beacon:notifier"
RESOLVE_EVENT = "resolve_event"
DELIVER = "deliver"
EXPORT = "export"
# arq takes due jobs in score order (the enqueue time, in ms). Urgent (restricted) events are
# scored this far in the past, so under a backlog they are resolved before routine ones.
URGENT_HEAD_START_MS = 10 * 60 * 1000


def resolve_job_id(event_id: int) -> str:
    return f"event:{event_id}"


def deliver_job_id(event_id: int) -> str:
    return f"deliver:{event_id}"


def export_job_id(export_id: str) -> str:
    return f"export:{export_id}"


def serialize(job: dict[str, Any]) -> bytes:
    # JSON, not arq's default pickle: payloads are ids, and unpickling is code execution.
    return json.dumps(job, default=str).encode()


def deserialize(data: bytes) -> dict[str, Any]:
    return json.loads(data)  # type: ignore[no-any-return]


SENTINEL_PORT = 26379
CONNECT_TIMEOUT_SECONDS = 2


def redis_settings(url: str) -> RedisSettings:
    """arq's settings for REDIS_URL: one server (redis[s]://host:port/db), or a Sentinel set
    (redis[s]+sentinel://[user:password@]host1:26379,host2:26379/master-name/db, the
    credentials the master's). With Sentinel every new connection asks the sentinels where
    the master is, so after a failover reconnecting finds the promoted replica."""
    parts = urlsplit(url)
    if parts.scheme in SENTINEL_SCHEMES:
        master, _, db = parts.path.strip("/").partition("/")
        settings = RedisSettings(
            host=[(host, port or SENTINEL_PORT) for host, port in url_hosts(parts.netloc)],
            sentinel=True,
            sentinel_master=master,
            database=int(db or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme.startswith("rediss"),
        )
    else:
        settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = CONNECT_TIMEOUT_SECONDS
    settings.conn_retries = 1
    return settings


async def connect(url: str) -> ArqRedis:
    settings = redis_settings(url)
    if settings.sentinel:
        return await _connect_sentinel(settings)
    return await create_pool(
        settings,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=WORKER_QUEUE,
    )


async def _connect_sentinel(settings: RedisSettings) -> ArqRedis:
    """arq's create_pool for a Sentinel set, plus connect timeouts (arq passes none there):
    a sentinel or master whose host is gone costs 2 s, not the kernel's SYN retries."""
    timeouts = {"socket_connect_timeout": settings.conn_timeout}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        settings.host,
        sentinel_kwargs={**timeouts, "socket_timeout": settings.conn_timeout},
        ssl=settings.ssl,
        **timeouts,
    )
    redis = cast(
        ArqRedis,
        sentinel.master_for(
            settings.sentinel_master,
            redis_class=ArqRedis,
            db=settings.database,
            username=settings.username,
            password=settings.password,
            encoding="utf8",
        ),
    )
    redis.job_serializer = serialize
    redis.job_deserializer = deserialize
    redis.default_queue_name = WORKER_QUEUE
    for attempt in range(settings.conn_retries + 1):  # as create_pool does: fail here
        try:
            await redis.ping()
            return redis
        except (RedisError, OSError, TimeoutError):
            if attempt == settings.conn_retries:
                await redis.aclose()
                raise
            await asyncio.sleep(settings.conn_retry_delay)
    raise AssertionError("unreachable")


async def enqueue_resolve(redis: ArqRedis, event_id: int) -> bool:
    """Ring the worker's doorbell for one outbox event. False: already queued or running."""
    return bool(await enqueue_resolve_many(redis, [event_id]))


async def enqueue_deliver(redis: ArqRedis, event_id: int) -> bool:
    return bool(await enqueue_deliver_many(redis, [event_id]))


async def enqueue_export_many(redis: ArqRedis, export_ids: Sequence[str]) -> list[str]:
    """Ring the worker for exports (their ids as text); returns the ones newly queued."""
    return await _enqueue_many(redis, EXPORT, WORKER_QUEUE, export_job_id, export_ids)


# arq's enqueue_job as one atomic step: refuse while the job or its result exists.
_ENQUEUE_UNLESS_QUEUED = """
if redis.call('exists', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('psetex', KEYS[1], ARGV[2], ARGV[1])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


async def enqueue_resolve_many(
    redis: ArqRedis, event_ids: Sequence[int], urgent: Collection[int] = ()
) -> list[int]:
    """`enqueue_resolve` for many events in one round trip; returns the ones newly queued.
    Events in `urgent` jump the queue (see URGENT_HEAD_START_MS)."""
    return await _enqueue_many(
        redis, RESOLVE_EVENT, WORKER_QUEUE, resolve_job_id, event_ids, urgent
    )


async def enqueue_deliver_many(redis: ArqRedis, event_ids: Sequence[int]) -> list[int]:
    """`enqueue_deliver` for many events in one round trip; returns the ones newly queued."""
    return await _enqueue_many(redis, DELIVER, NOTIFIER_QUEUE, deliver_job_id, event_ids)


Id = TypeVar("Id", int, str)


async def _enqueue_many(
    redis: ArqRedis,
    function: str,
    queue_name: str,
    job_id: Callable[[Id], str],
    event_ids: Sequence[Id],
    urgent: Collection[Id] = (),
) -> list[Id]:
    """One pipeline of the same atomic "enqueue unless queued or finished" step arq's
    `enqueue_job` performs (same keys, payload and serializer): arq's own enqueue costs three
    round trips per job, which dominated the callers' time at a few hundred jobs/s."""
    if not event_ids:
        return []
    now_ms = timestamp_ms()  # arq's own clock (rounded ms): our scores sort with arq's
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            job = job_id(event_id)
            payload = serialize_job(function, (event_id,), {}, None, now_ms, serializer=serialize)
            # EVAL, not a registered script: redis-py checks SCRIPT EXISTS before every
            # pipeline holding one, a second round trip; Redis caches the compiled body anyway.
            score = now_ms - URGENT_HEAD_START_MS if event_id in urgent else now_ms
            # redis-py annotates EVAL's arguments as str; it encodes bytes and ints alike.
            pipe.eval(
                _ENQUEUE_UNLESS_QUEUED,
                3,
                job_key_prefix + job,
                result_key_prefix + job,
                queue_name,
                payload,  # type: ignore[arg-type]
                redis.expires_extra_ms,  # type: ignore[arg-type]
                score,  # type: ignore[arg-type]
                job,
            )
        results = await pipe.execute()
    return [e for e, queued in zip(event_ids, results, strict=True) if queued == 1]


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
            warnings.append(
                "Redis appendonly is off; queued jobs are lost on restart "
                "(the outbox relay re-sends them, with delay)"
            )
    for w in warnings:
        log.warning("redis_unsafe", detail=w)
    return warnings
