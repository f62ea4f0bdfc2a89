"""The mail server down (30 s in full mode: connections refused), then up but answering 421 and
451 to every message for a while, then back. Alerts go `retrying` with jittered exponential
backoff and are all delivered once the mail server takes mail again: none failed, none twice."""

from __future__ import annotations

import asyncio

from tests.faults import scenario
from tests.faults.pipeline import Pipeline, running
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer


async def test_mail_server_down_then_refusing_then_back(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    async def outage(pipeline: Pipeline) -> None:
        await asyncio.sleep(scale.settle)
        await asyncio.to_thread(mail_server.stop)
        await asyncio.sleep(scale.smtp_down)
        mail_server.refuse(True)
        await asyncio.to_thread(mail_server.start)
        await asyncio.sleep(scale.smtp_refusing)
        mail_server.refuse(False)

    seconds = scale.settle * 2 + scale.smtp_down + scale.smtp_refusing
    async with running(fault_env) as pipeline:
        outcome = await scenario.run(
            pipeline, mail_server, scale.rate, seconds, outage, scale.drain_timeout
        )
        retried = pipeline.count_log("notifier", "alert_retrying")
    fault_report.add(
        "smtp_down_then_4xx",
        outcome.row,
        refused_4xx=mail_server.handler.refused,
        retries_logged=retried,
        client=outcome.client,
        books=outcome.books.figures(),
    )
    assert not outcome.problems(), outcome.problems()
    assert outcome.client["statuses"] == {"201": outcome.client["requests"]}, outcome.client
    assert outcome.books.duplicates == {}
    assert mail_server.handler.refused > 0 and retried > 0, "the fault never reached the notifier"
