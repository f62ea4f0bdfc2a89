"""shared.queue writes arq's keys itself (one pipeline of an atomic "enqueue unless queued" step
instead of arq's three round trips per job). These tests hold that copy to arq's own
`ArqRedis.enqueue_job` on a real redis-server, so an arq upgrade that changes its keys, payload
or refusal rule fails here, not in production (pyproject.toml caps arq until it passes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import Worker
from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import deserialize_job, deserialize_job_raw
from arq.utils import timestamp_ms
from arq.worker import func

from shared import queue


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await queue.connect(redis_url)
    yield pool
    await pool.aclose()


async def arq_enqueue(redis: ArqRedis, event_id: int) -> bool:
    """arq's own enqueue of the job shared.queue writes for `event_id`."""
    job = await redis.enqueue_job(
        queue.RESOLVE_EVENT,
        event_id,
        _job_id=queue.resolve_job_id(event_id),
        _queue_name=queue.WORKER_QUEUE,
    )
    return job is not None


async def written(redis: ArqRedis, event_id: int) -> dict[str, Any]:
    """What Redis holds for one event's job: key type, TTL, payload and queue score."""
    job_id = queue.resolve_job_id(event_id)
    key = job_key_prefix + job_id
    return {
        "type": await redis.type(key),
        "ttl_ms": await redis.pttl(key),
        "payload": await redis.get(key),
        "score": await redis.zscore(queue.WORKER_QUEUE, job_id),
    }


async def test_our_enqueue_writes_what_arq_writes(redis: ArqRedis) -> None:
    before_ms = timestamp_ms()  # arq's clock: milliseconds, rounded
    assert await arq_enqueue(redis, 1)
    assert await queue.enqueue_resolve_many(redis, [2]) == [2]
    after_ms = timestamp_ms()

    assert sorted(await redis.keys("*")) == sorted(
        [
            (job_key_prefix + queue.resolve_job_id(1)).encode(),
            (job_key_prefix + queue.resolve_job_id(2)).encode(),
            queue.WORKER_QUEUE.encode(),
        ]
    )
    assert await redis.type(queue.WORKER_QUEUE) == b"zset"
    assert await redis.zrange(queue.WORKER_QUEUE, 0, -1) == [b"event:1", b"event:2"]

    theirs, ours = await written(redis, 1), await written(redis, 2)
    assert theirs["type"] == ours["type"] == b"string"
    # Both expire the job key arq's expires_extra_ms after it is due.
    for ttl in (theirs["ttl_ms"], ours["ttl_ms"]):
        assert redis.expires_extra_ms - 60_000 < ttl <= redis.expires_extra_ms

    # The same payload fields, read back by arq's deserializer with ours.
    assert queue.deserialize(theirs["payload"]).keys() == queue.deserialize(ours["payload"]).keys()
    for event_id, data in ((1, theirs), (2, ours)):
        function, args, kwargs, job_try, enqueued_ms = deserialize_job_raw(
            data["payload"], deserializer=queue.deserialize
        )
        assert (function, list(args), kwargs) == (queue.RESOLVE_EVENT, [event_id], {})
        assert job_try is None
        assert before_ms <= enqueued_ms <= after_ms
        # Due now: the queue's score is the enqueue time, in ms.
        assert data["score"] == enqueued_ms
        deserialize_job(data["payload"], deserializer=queue.deserialize)  # arq's full reader


async def test_urgent_is_scored_ahead_by_the_head_start(redis: ArqRedis) -> None:
    assert await queue.enqueue_resolve_many(redis, [1, 2], urgent={2}) == [1, 2]
    routine, urgent = await written(redis, 1), await written(redis, 2)
    enqueued_ms = queue.deserialize(urgent["payload"])["et"]
    assert urgent["score"] == enqueued_ms - queue.URGENT_HEAD_START_MS
    assert routine["score"] == queue.deserialize(routine["payload"])["et"]


async def test_arq_refuses_a_job_we_queued_and_we_refuse_one_arq_queued(redis: ArqRedis) -> None:
    assert await queue.enqueue_resolve_many(redis, [1]) == [1]
    assert not await arq_enqueue(redis, 1)

    assert await arq_enqueue(redis, 2)
    assert await queue.enqueue_resolve_many(redis, [2]) == []
    assert not await queue.enqueue_resolve(redis, 2)

    assert await redis.zcard(queue.WORKER_QUEUE) == 2


async def test_both_refuse_while_the_result_is_kept(redis: ArqRedis) -> None:
    for event_id in (1, 2):
        await redis.set(result_key_prefix + queue.resolve_job_id(event_id), b"kept")
    assert not await arq_enqueue(redis, 1)
    assert await queue.enqueue_resolve_many(redis, [2]) == []
    assert await redis.zcard(queue.WORKER_QUEUE) == 0


async def test_arq_worker_runs_the_jobs_we_queue(redis: ArqRedis) -> None:
    ran: list[int] = []

    async def resolve_event(ctx: dict[str, Any], event_id: int) -> None:
        ran.append(event_id)

    assert await queue.enqueue_resolve_many(redis, [1, 2], urgent={2}) == [1, 2]
    worker = Worker(
        functions=[func(resolve_event, name=queue.RESOLVE_EVENT)],
        redis_pool=redis,
        queue_name=queue.WORKER_QUEUE,
        burst=True,
        poll_delay=0,
        max_jobs=1,
        handle_signals=False,
        job_serializer=queue.serialize,
        job_deserializer=queue.deserialize,
    )
    try:
        assert await worker.run_check() == 2
    finally:
        await worker.close()
    assert ran == [2, 1]  # the urgent one first
