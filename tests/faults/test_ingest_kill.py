"""Ingest SIGKILLed mid-request. A client that retries with the same Idempotency-Key gets
exactly one incident: 201 if the killed attempt never committed, 200 replaying the same
incident if it did."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg

from bench.load import open_loop
from tests.faults import scenario
from tests.faults.books import Books, read_books
from tests.faults.client import IN_DOUBT, Attempt, Reporter
from tests.faults.holding_proxy import HoldingProxy
from tests.faults.pipeline import Pipeline, http_client, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer
from tests.support.metrics import sample
from tests.support.until import until


async def test_ingest_sigkilled_under_load(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    async def kill_and_restart(pipeline: Pipeline) -> None:
        for _ in range(scale.ingest_kills):
            await asyncio.sleep(scale.kill_every)
            await pipeline.kill("ingest")
            await pipeline.start("ingest")

    seconds = scale.settle * 2 + scale.ingest_kills * scale.kill_every
    async with running(fault_env) as pipeline:
        # A busier client, so kills find requests in flight.
        outcome = await scenario.run(
            pipeline, mail_server, scale.rate * 5, seconds, kill_and_restart, scale.drain_timeout
        )
    replayed = sum(1 for o in outcome.reporter.outcomes.values() if o.status == 200)
    fault_report.add(
        "ingest_sigkill",
        outcome.row,
        replayed=replayed,
        client=outcome.client,
        books=outcome.books.figures(),
    )
    assert not outcome.problems(), outcome.problems()
    assert outcome.client["no_answer"] + outcome.client["in_doubt"] > 0, "no kill hit a request"
    assert outcome.books.duplicates == {}


async def test_kill_while_the_insert_waits(
    fault_env: dict[str, str], mail_server: FaultyMailServer, fault_report: FaultReport
) -> None:
    """Deterministic, before commit: requests are held, the first batch inside its INSERT (a
    table lock the test owns) and the rest queued behind it for their school's next batch;
    ingest is SIGKILLed, the lock released. Whatever PostgreSQL does with the dead client's
    statements, each retry with the same key yields exactly one incident."""
    async with running(fault_env) as pipeline:
        school_id, key = await pipeline.school()
        lock = await asyncpg.connect(pipeline.database_url)
        async with http_client() as http:
            reporter = pipeline.reporter(http, key, give_up_after=60)
            try:
                tx = lock.transaction()
                await tx.start()
                await lock.execute("LOCK TABLE incidents IN SHARE MODE")
                posts = asyncio.create_task(open_loop(50, HELD / 50, reporter.submit))
                await until_at_least(lambda: waiting_on_lock(lock), 1)
                await until_at_least(lambda: in_flight(http, pipeline.ingest_url), HELD)
                await pipeline.kill("ingest")
                await tx.commit()
                await pipeline.start("ingest")
                await posts
            finally:
                await lock.close()
        books = await read_books(pipeline.database_url, [school_id], reporter.acknowledged(), [])
    _report(fault_report, "ingest_kill_before_commit", reporter, books)
    assert _first_attempts_in_doubt(reporter)
    assert {o.status for o in reporter.outcomes.values()} <= {200, 201}
    assert books.acknowledged == books.stored == HELD
    assert not (
        books.acknowledged_not_stored or books.stored_not_acknowledged or books.id_mismatch
    ), books


async def test_kill_after_commit_before_the_answer(
    fault_env: dict[str, str], mail_server: FaultyMailServer, fault_report: FaultReport
) -> None:
    """Deterministic, after commit: ingest stores the incidents and answers, a proxy swallows
    the answers, ingest is SIGKILLed. Each retry with the same key must replay (200) the
    incident the dead process stored — never record a second one."""
    async with running(fault_env) as pipeline:
        school_id, key = await pipeline.school()
        proxy = await HoldingProxy(int(fault_env["INGEST_PORT"])).start()
        conn = await asyncpg.connect(pipeline.database_url)
        async with http_client() as http:
            reporter = pipeline.reporter(http, key, give_up_after=60)
            reporter.ingest_url = f"http://127.0.0.1:{proxy.port}"
            try:
                proxy.holding = True
                posts = asyncio.create_task(open_loop(50, HELD / 50, reporter.submit))
                await until_at_least(lambda: conn.fetchval("SELECT count(*) FROM incidents"), HELD)
                await pipeline.kill("ingest")  # its connections close: the client is in doubt
                proxy.holding = False
                await pipeline.start("ingest")
                await posts
            finally:
                await conn.close()
                await proxy.close()
        books = await read_books(pipeline.database_url, [school_id], reporter.acknowledged(), [])
    _report(fault_report, "ingest_kill_after_commit", reporter, books)
    assert proxy.swallowed > 0 and _first_attempts_in_doubt(reporter)
    assert [o.status for o in reporter.outcomes.values()] == [200] * HELD  # all replayed
    assert books.acknowledged == books.stored == HELD
    assert not (
        books.acknowledged_not_stored or books.stored_not_acknowledged or books.id_mismatch
    ), books


HELD = 5


def _first_attempts_in_doubt(reporter: Reporter) -> bool:
    first: dict[int, Attempt] = {}
    for a in sorted(reporter.attempts, key=lambda a: a.started):
        first.setdefault(a.index, a)
    return len(first) == HELD and all(a.status == IN_DOUBT for a in first.values())


def _report(report: FaultReport, test: str, reporter: Reporter, books: Books) -> None:
    statuses = Counter(str(o.status) for o in reporter.outcomes.values())
    report.add(
        test,
        {
            "requests": len(reporter.attempts),
            "acked": books.acknowledged,
            "stored": books.stored,
            "in_doubt": sum(1 for a in reporter.attempts if a.status == IN_DOUBT),
        },
        final_statuses=dict(statuses),
    )


async def waiting_on_lock(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("""SELECT count(*) FROM pg_stat_activity
                                  WHERE datname = current_database()
                                    AND wait_event_type = 'Lock'""")


async def in_flight(http: aiohttp.ClientSession, ingest_url: str) -> int:
    """API requests ingest is serving now, by its own gauge."""
    async with http.get(f"{ingest_url}/metrics") as r:
        return int(sample(await r.text(), "beacon_ingest_in_flight"))


async def until_at_least(
    count: Callable[[], Awaitable[int]], at_least: int, patience: float = 10
) -> None:
    async def reached() -> bool:
        return await count() >= at_least

    await until(reached, patience, "the requests never got that far")
