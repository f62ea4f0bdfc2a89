"""One fault run: a school, an open-loop load of incidents (bench/load.py) from a well-behaved
client, a fault injected while the load runs, then the pipeline left to settle and the books
read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.load import open_loop
from tests.faults.books import Books, read_books, wait_settled
from tests.faults.client import Reporter, attempt_figures
from tests.faults.pipeline import Pipeline, http_client
from tests.faults.sink import FaultyMailServer

Fault = Callable[[Pipeline], Awaitable[None]]


@dataclass
class Outcome:
    books: Books
    client: dict[str, Any]
    settled: dict[str, int]
    reporter: Reporter
    row: dict[str, Any]

    def problems(self) -> list[str]:
        found = self.books.problems()
        if self.settled.get("timed_out"):
            found.append(f"pipeline did not settle: {self.settled}")
        if self.client["server_errors"]:
            found.append(f"server errors other than 503: {self.client['statuses']}")
        if self.client["client_errors"]:
            found.append(f"4xx other than 429: {self.client['statuses']}")
        if self.client["shed_without_retry_after"]:
            found.append(f"{self.client['shed_without_retry_after']} 503/429 without Retry-After")
        return found


async def run(
    pipeline: Pipeline,
    mail_server: FaultyMailServer,
    rate: float,
    seconds: float,
    fault: Fault,
    settle_timeout: float,
    **client_options: Any,
) -> Outcome:
    school_id, key = await pipeline.school()
    started = time.monotonic()
    async with http_client() as http:
        reporter = pipeline.reporter(http, key, **client_options)
        load = asyncio.create_task(open_loop(rate, seconds, reporter.submit))
        try:
            await fault(pipeline)
            await load
        finally:
            load.cancel()
    waited, settled = await wait_settled(pipeline.database_url, [school_id], settle_timeout)
    deliveries = [(a.at, a.alert_id or a.message_id) for a in mail_server.accepted]
    books = await read_books(
        pipeline.database_url,
        [school_id],
        reporter.acknowledged(),
        deliveries,
        pipeline.kills,
        pipeline.log("notifier"),
    )
    client = attempt_figures(reporter.attempts)
    return Outcome(
        books, client, settled, reporter, row(books, client, time.monotonic() - started, waited)
    )


def row(books: Books, client: dict[str, Any], seconds: float, drain: float) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 1),
        "requests": client["requests"],
        "acked": books.acknowledged,
        "stored": books.stored,
        "shed": client["shed"],
        "no_answer": client["no_answer"],
        "in_doubt": client["in_doubt"],
        "timed_out": client["timed_out"],
        "5xx": client["server_errors"],
        "max_ms": client["max_answer_ms"],
        "alerts": books.alert_rows,
        "delivered": books.delivered,
        "missing": len(books.missing),
        "failed": len(books.failed),
        "dups": sum(books.duplicates.values()),
        "leased": books.leased_at_kills,
        "drain_s": round(drain, 1),
    }


async def leased_alerts(pipeline: Pipeline) -> frozenset[str]:
    """Alerts in `sending` right now (after a notifier kill, frozen until the restart)."""
    import asyncpg

    conn = await asyncpg.connect(pipeline.database_url)
    try:
        rows = await conn.fetch("SELECT id::text FROM alerts WHERE state = 'sending'")
    finally:
        await conn.close()
    return frozenset(r["id"] for r in rows)
