"""The worker SIGKILLed every few seconds and restarted, under a steady load of incidents.

A job killed mid-resolution rolls back; arq re-runs it once its in-progress key expires (the
longest job timeout + 10 s = 30 s), and the relay covers any event whose ring was lost."""

from __future__ import annotations

import asyncio

from tests.faults import scenario
from tests.faults.pipeline import Pipeline, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer


async def test_worker_sigkilled_every_few_seconds(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    async def kill_repeatedly(pipeline: Pipeline) -> None:
        for _ in range(scale.worker_kills):
            await asyncio.sleep(scale.kill_every)  # the fault's cadence, not a wait for work
            await pipeline.kill("worker")
            await pipeline.start("worker")

    seconds = scale.settle * 2 + scale.worker_kills * scale.kill_every
    async with running(fault_env) as pipeline:
        outcome = await scenario.run(
            pipeline, mail_server, scale.rate, seconds, kill_repeatedly, scale.drain_timeout
        )
    fault_report.add(
        "worker_sigkill",
        outcome.row,
        kills=len(pipeline.kills),
        client=outcome.client,
        books=outcome.books.figures(),
    )
    assert not outcome.problems(), outcome.problems()
    # Ingest was never touched: every request answered 201 at once.
    assert outcome.client["statuses"] == {"201": outcome.client["requests"]}, outcome.client
    assert outcome.books.duplicates == {}  # no notifier was killed: nothing may repeat
    assert len(pipeline.kills) == scale.worker_kills
