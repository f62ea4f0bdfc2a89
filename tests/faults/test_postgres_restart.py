"""PostgreSQL (a throwaway cluster of our own) stopped and started again under load, first
cleanly (pg_ctl stop -m fast), then as a crash (-m immediate). While it
is away ingest answers 503 with Retry-After at once — never a hang past the client's 2 s
timeout, never a 500 — and it, the worker and the notifier recover on their own: every
acknowledged incident is stored and every alert delivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.faults import scenario
from tests.faults.pipeline import Pipeline, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer
from tests.support.databases import create_database
from tests.support.postgres_server import PostgresServer


@pytest.fixture
async def own_postgres() -> AsyncIterator[PostgresServer]:
    server = await asyncio.to_thread(lambda: PostgresServer().init().start())
    yield server
    await asyncio.to_thread(server.cleanup)


async def test_postgres_restart(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    own_postgres: PostgresServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    async def restart(pipeline: Pipeline) -> None:
        for n in range(scale.pg_restarts):
            await asyncio.sleep(scale.settle)
            await asyncio.to_thread(own_postgres.stop, "fast" if n == 0 else "immediate")
            await asyncio.sleep(scale.pg_outage)
            await asyncio.to_thread(own_postgres.start)

    env = {**fault_env, "DATABASE_URL": await create_database(own_postgres.url())}
    seconds = scale.settle * (scale.pg_restarts + 1) + scale.pg_outage * scale.pg_restarts
    async with running(env) as pipeline:
        outcome = await scenario.run(
            pipeline, mail_server, scale.rate, seconds, restart, scale.drain_timeout
        )
    shed = [a for a in outcome.reporter.attempts if a.status == 503]
    fault_report.add(
        "postgres_restart",
        outcome.row,
        client=outcome.client,
        books=outcome.books.figures(),
        slowest_503_ms=round(max((a.seconds for a in shed), default=0) * 1000, 1),
    )
    assert not outcome.problems(), outcome.problems()
    # Away: refused fast and honestly. Never a hang, never a dropped connection, never a 500.
    assert outcome.client["timed_out"] == outcome.client["no_answer"] == 0, outcome.client
    assert shed, "no request was refused: the outage never reached ingest"
    # 429: the retries of everything refused meanwhile can exceed the key's burst allowance.
    assert set(outcome.client["statuses"]) <= {"201", "200", "503", "429"}, outcome.client
