"""The notifier SIGKILLed mid-batch (while it holds leased alerts) and restarted, under load.

Leased alerts of the dead process are claimed again when their lease (30 s) expires. Only an
alert whose 250 came back before the kill but whose `sent` commit did not is sent twice, with
the same Message-ID: every duplicate must be one of the alerts leased when a kill landed."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import asyncpg

from tests.faults import scenario
from tests.faults.pipeline import Pipeline, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer
from tests.support.until import until


async def test_notifier_sigkilled_mid_batch(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    async def kill_mid_batch(pipeline: Pipeline) -> None:
        for _ in range(scale.notifier_kills):
            await asyncio.sleep(scale.kill_every)
            await until_sending(pipeline.database_url)
            kill = await pipeline.kill("notifier")
            # The dead process can change nothing: this is what it held when it died.
            pipeline.kills[-1] = replace(kill, leased=await scenario.leased_alerts(pipeline))
            await pipeline.start("notifier")

    seconds = scale.settle * 2 + scale.notifier_kills * scale.kill_every
    async with running(fault_env) as pipeline:
        outcome = await scenario.run(
            pipeline, mail_server, scale.rate, seconds, kill_mid_batch, scale.drain_timeout
        )
    leased = [len(k.leased) for k in pipeline.kills]
    fault_report.add(
        "notifier_sigkill",
        outcome.row,
        leased_per_kill=leased,
        duplicates=outcome.books.duplicates,
        client=outcome.client,
        books=outcome.books.figures(),
    )
    assert not outcome.problems(), outcome.problems()
    # Ingest was never touched: every request answered 201 at once.
    assert outcome.client["statuses"] == {"201": outcome.client["requests"]}, outcome.client
    assert any(leased), "no kill landed while alerts were leased: the test proved nothing"


async def until_sending(dsn: str, patience: float = 3.0) -> None:
    """Wait (polling) until the notifier holds leased alerts, so the kill lands mid-batch."""
    conn = await asyncpg.connect(dsn)
    try:
        leased = "SELECT count(*) FROM alerts WHERE state = 'sending'"
        # Kill anyway when none shows up: the test's last check says whether any kill landed
        # while alerts were leased.
        with contextlib.suppress(AssertionError):
            await until(lambda: conn.fetchval(leased), patience, interval=0.005)
    finally:
        await conn.close()
