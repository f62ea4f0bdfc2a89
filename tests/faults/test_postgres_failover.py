"""PostgreSQL failover: a primary and a streaming standby (pg_basebackup -R, synchronous
replication with synchronous_commit=on, so an acknowledged commit is on both), DATABASE_URL
listing both hosts with target_session_attrs=read-write. Under load the primary is stopped
hard (pg_ctl -m immediate) and, a few seconds later, the standby promoted (pg_ctl promote),
as an orchestrator would. During the gap ingest answers 503 with Retry-After at once (never a
500, never a hang); every service then finds the new primary by trying the hosts again;
every incident that got a 201 is on the new primary and every alert is delivered, a repeat
only for a send whose `sent` commit died with the old primary (its 250 came back first)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.faults import scenario
from tests.faults.pipeline import Pipeline, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer
from tests.faults.supervise import supervised
from tests.support.databases import create_database
from tests.support.postgres_server import PostgresServer
from tests.support.until import until

# The client waits this long for an answer: longer is a hang. Generous, so that a loaded
# 2-core box answering slowly is not mistaken for one (the gap's 503s come in milliseconds).
HANG_SECONDS = 10.0


@dataclass
class Pair:
    primary: PostgresServer
    standby: PostgresServer

    def url(self, database: str) -> str:
        """Both hosts, the writable one chosen at each connect (libpq's form, asyncpg's)."""
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


@pytest.fixture
async def primary_and_standby() -> AsyncIterator[Pair]:
    primary = await asyncio.to_thread(lambda: PostgresServer().init().start())
    standby = None
    try:
        standby = await asyncio.to_thread(lambda: primary.standby().start())
        await asyncio.to_thread(primary.synchronous)
        await until(lambda: synchronous_standbys(primary), 30, "standby not in sync", 0.1)
        yield Pair(primary, standby)
    finally:
        for server in (standby, primary):
            if server is not None:
                await asyncio.to_thread(server.cleanup)


async def synchronous_standbys(primary: PostgresServer) -> int:
    conn = await asyncpg.connect(primary.url())
    try:
        return await conn.fetchval(  # type: ignore[no-any-return]
            "SELECT count(*) FROM pg_stat_replication "
            "WHERE state = 'streaming' AND sync_state = 'sync'"
        )
    finally:
        await conn.close()


async def test_primary_lost_standby_promoted(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    primary_and_standby: Pair,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    pair = primary_and_standby
    gap: dict[str, float] = {}

    async def fail_over(pipeline: Pipeline) -> None:
        await asyncio.sleep(scale.settle)
        stopped = time.monotonic()
        await asyncio.to_thread(pair.primary.stop, "immediate")
        await asyncio.sleep(scale.pg_outage)  # the orchestrator's decision time
        await asyncio.to_thread(pair.standby.promote)
        gap["seconds"] = round(time.monotonic() - stopped, 1)

    database = urlsplit(await create_database(pair.primary.url())).path.lstrip("/")
    env = {**fault_env, "DATABASE_URL": pair.url(database)}
    seconds = scale.settle * 2 + scale.pg_outage
    async with running(env) as pipeline, supervised(pipeline) as supervisor:
        outcome = await scenario.run(
            pipeline,
            mail_server,
            scale.rate,
            seconds,
            fail_over,
            scale.drain_timeout,
            timeout=HANG_SECONDS,
        )
    shed = [a for a in outcome.reporter.attempts if a.status == 503]
    on_new_primary = await stored_keys(pair.standby.url(database))
    acked = outcome.reporter.acknowledged()
    fault_report.add(
        "postgres_failover",
        outcome.row,
        gap_s=gap.get("seconds"),
        deaths=supervisor.figures(),
        client=outcome.client,
        books=outcome.books.figures(),
        slowest_503_ms=round(max((a.seconds for a in shed), default=0) * 1000, 1),
    )
    assert not outcome.problems(), outcome.problems()
    # The gap: refused fast and honestly. Never a hang, a dropped connection or a 500.
    assert outcome.client["timed_out"] == outcome.client["no_answer"] == 0, outcome.client
    assert outcome.client["in_doubt"] == 0, outcome.client
    assert shed, "no request was refused: the gap never reached ingest"
    assert set(outcome.client["statuses"]) <= {"201", "200", "503", "429"}, outcome.client
    # Synchronous replication: every incident acknowledged before the loss is on the standby
    # that took over, by its key and id.
    assert {k: o.incident_id for k, o in acked.items()} == on_new_primary
    # Every service rode the failover out in-process (the supervisor restarted none).
    assert not supervisor.deaths, supervisor.deaths


async def stored_keys(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        assert not await conn.fetchval("SELECT pg_is_in_recovery()"), "standby not promoted"
        rows = await conn.fetch("SELECT idempotency_key, id::text FROM incidents")
    finally:
        await conn.close()
    return {r["idempotency_key"]: r["id"] for r in rows}
