"""The outbox relay and the worker job: events arq never got are handed over and resolved."""

import asyncio

import pytest
import structlog
import structlog.testing
from arq import Retry

from services.worker import background, jobs, relay
from services.worker.main import build_worker, close_worker
from services.worker.recipients import resolve
from shared import queue
from tests.support.redis_server import RedisServer
from tests.support.until import until
from tests.support.world import alerted, record_incident


async def job_exists(redis, job_id):
    return bool(await redis.exists(f"arq:job:{job_id}"))


async def outbox_row(pg, event):
    return await pg.fetchrow(
        "SELECT enqueued_at, enqueue_count, resolved_at FROM alert_events WHERE id = $1", event
    )


async def test_relay_hands_over_a_lost_event_and_the_worker_resolves_it(pg, redis, school, drain):
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
    # Ingest committed but died before enqueueing: nothing in Redis.
    assert not await job_exists(redis, f"event:{event}")
    passed = await relay.relay_once(pg, redis, new_grace=0)
    assert (passed.rung, passed.enqueued) == (1, 1)
    assert await job_exists(redis, f"event:{event}")
    row = await outbox_row(pg, event)
    assert row["enqueue_count"] == 1 and row["enqueued_at"] and row["resolved_at"] is None

    assert await drain() == 1
    assert (await outbox_row(pg, event))["resolved_at"] is not None
    async with pg.acquire() as conn:
        assert await alerted(conn, event) == {"S01", "S02", "S03", "S06", "S08"}
    assert await job_exists(redis, f"deliver:{event}")
    # Resolved: the relay leaves it alone, and arq kept no result that would refuse a re-ring.
    assert (await relay.relay_once(pg, redis, new_grace=0, stale_seconds=0)).rung == 0
    assert await redis.keys("arq:result:*") == []


async def test_relay_waits_for_ingest_then_rings_again_only_when_stale(pg, redis, school):
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
    assert (await relay.relay_once(pg, redis)).rung == 0  # ingest's own enqueue is due first
    assert (await relay.relay_once(pg, redis, new_grace=0)).enqueued == 1
    assert (await relay.relay_once(pg, redis, new_grace=0)).rung == 0  # rung, not yet stale
    again = await relay.relay_once(pg, redis, new_grace=0, stale_seconds=0)
    assert (again.rung, again.enqueued) == (1, 0)  # still queued in arq: refused, fine
    assert (await outbox_row(pg, event))["enqueue_count"] == 1


async def test_relay_puts_restricted_events_ahead_of_the_routine_backlog(
    pg, redis, school, monkeypatch
):
    monkeypatch.setattr(relay, "BATCH", 2)
    async with pg.acquire() as conn:
        plain = [
            (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
            for _ in range(3)
        ]
        urgent = (await record_incident(conn, school, "S04", "P0001", ["safeguarding"])).event
    assert (await relay.relay_once(pg, redis, new_grace=0)).enqueued == 4
    # arq takes due jobs in score order: the restricted event, recorded last, comes first.
    queued = [j.decode() for j in await redis.zrange(queue.WORKER_QUEUE, 0, -1)]
    assert queued[0] == f"event:{urgent}"
    assert sorted(queued[1:]) == sorted(f"event:{e}" for e in plain)


async def test_an_urgent_event_rung_after_a_backlog_is_resolved_first(pg, redis, school, settings):
    async with pg.acquire() as conn:
        plain = [
            (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
            for _ in range(5)
        ]
        urgent = (await record_incident(conn, school, "S04", "P0001", ["safeguarding"])).event
    await queue.enqueue_resolve_many(redis, plain)
    await queue.enqueue_resolve_many(redis, [urgent], urgent={urgent})
    worker = build_worker(
        settings, burst=True, poll_delay=0, max_jobs=1, handle_signals=False, ctx={"pg": pg}
    )
    try:
        assert await worker.run_check() == 6
    finally:
        await close_worker(worker)
    order = [
        r["id"] for r in await pg.fetch("SELECT id FROM alert_events ORDER BY resolved_at, id")
    ]
    assert order[0] == urgent and sorted(order[1:]) == sorted(plain)


async def test_relay_rings_the_notifier_for_alerts_left_queued(pg, redis, school):
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
        async with conn.transaction():
            await resolve(conn, event)
    assert await relay.ring_notifier(pg, redis) == 0  # fresh: the worker's own ring is due
    assert await relay.ring_notifier(pg, redis, stale_seconds=0) == 1
    assert await job_exists(redis, f"deliver:{event}")


async def test_relay_loop_survives_redis_going_away(pg, school):
    server = RedisServer().start()
    redis = await queue.connect(server.url())
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
    with structlog.testing.capture_logs() as logs:
        server.stop()
        loop = background.start(0.05, "relay", lambda: relay.relay_once(pg, redis, new_grace=0))
        try:

            async def failed_twice():
                return sum(e["event"] == "background_pass_unavailable" for e in logs) >= 2

            await until(failed_twice, 10, "the relay did not report Redis unavailable")
            assert not loop.done(), "the relay loop died"
            server.start()

            async def handed_over():
                return (await outbox_row(pg, event))["enqueue_count"] == 1

            await until(handed_over, 10, "the relay never handed the event over")
            assert await job_exists(redis, f"event:{event}")
        finally:
            await background.stop([loop])
            await redis.aclose()
            server.cleanup()


async def test_job_turns_database_unavailable_into_retry(pg, redis, school, database_url):
    import asyncpg

    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
    closed = await asyncpg.create_pool(database_url, min_size=0, max_size=1)
    await closed.close()
    with pytest.raises(Retry):
        await jobs.resolve_event({"pg": closed, "redis": redis, "job_try": 3}, event)
    assert (await outbox_row(pg, event))["resolved_at"] is None


async def test_two_workers_and_duplicate_rings_create_each_alert_once(pg, redis, school, drain):
    async with pg.acquire() as conn:
        events = [
            (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
            for _ in range(20)
        ]
    for e in events:
        assert await queue.enqueue_resolve(redis, e)
        assert not await queue.enqueue_resolve(redis, e)  # already queued: refused

    # A killed job's rerun, simulated: the same events resolved directly at the same time.
    async def direct(e):
        async with pg.acquire() as conn, conn.transaction():
            await resolve(conn, e)

    done = await asyncio.gather(drain(), drain(), *(direct(e) for e in events))
    assert sum(done[:2]) == 20
    assert await pg.fetchval("SELECT count(*) FROM alerts") == 20 * 5
    assert await pg.fetchval("SELECT count(*) FROM alert_events WHERE resolved_at IS NULL") == 0
