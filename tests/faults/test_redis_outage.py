"""Redis stopped (20 s in full mode) and started again EMPTY: a new process without AOF, every
queued job lost. Ingest keeps answering 201 (the outbox row is the record; ringing is best
effort); the worker's relay re-rings every unresolved event and the notifier's sweeper finds
every queued alert, so nothing is lost and nothing is sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.faults import scenario
from tests.faults.pipeline import Pipeline, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer
from tests.support.redis_server import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=False).start()  # a restart loses everything
    yield server
    server.cleanup()


async def test_redis_away_then_back_empty(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    own_redis: RedisServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    async def outage(pipeline: Pipeline) -> None:
        await asyncio.sleep(scale.settle)
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(scale.redis_outage)
        await asyncio.to_thread(own_redis.start)

    env = {**fault_env, "REDIS_URL": own_redis.url()}
    seconds = scale.settle * 2 + scale.redis_outage
    async with running(env) as pipeline:
        outcome = await scenario.run(
            pipeline, mail_server, scale.rate, seconds, outage, scale.drain_timeout
        )
        alive = {
            name: s.proc.poll() is None
            for name, s in pipeline.services.items()
            if s.proc is not None
        }
        felt = {
            "ingest_enqueue_failed": pipeline.count_log("ingest", "enqueue_failed"),
            "worker_restarting": pipeline.count_log("worker", "worker_restarting"),
        }
    fault_report.add(
        "redis_empty_restart",
        outcome.row,
        felt=felt,
        client=outcome.client,
        books=outcome.books.figures(),
    )
    assert not outcome.problems(), outcome.problems()
    # Ingest answered every request with 201 while Redis was away: nothing shed, no errors.
    assert outcome.client["statuses"] == {"201": outcome.client["requests"]}, outcome.client
    assert outcome.books.duplicates == {}
    assert all(alive.values()), alive  # no service died of it
    assert felt["ingest_enqueue_failed"] > 0, "ingest never noticed Redis was away"
