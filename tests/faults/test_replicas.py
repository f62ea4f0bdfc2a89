"""Two of every service (ingest, worker, notifier) against one database and one Redis, and
one of each SIGKILLed in turn under load while its twin carries on; the client sends its
attempts round-robin to both ingests and retries refused connections with the same
Idempotency-Key. Every loop runs in every replica (the relay, escalation, the notifier's
sweeper, the worker bell): the books must balance as with one of each (docs/deploying.md says
why that is safe)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

from tests.faults import scenario
from tests.faults.pipeline import PRODUCTION, Pipeline
from tests.faults.replicas import REPLICAS, ReplicaPipeline
from tests.faults.report import FaultReport
from tests.faults.scale import Scale
from tests.faults.sink import FaultyMailServer
from tests.faults.test_notifier_kill import until_sending

RATE = 40.0  # incidents/s, sent round-robin to both ingests
# The notifier that survives a kill finishes its own sends in milliseconds; an alert still
# `sending` this long after the kill was the dead one's.
LEASE_SETTLE_SECONDS = 1.5


@contextlib.asynccontextmanager
async def running_replicas(env: dict[str, str]) -> AsyncIterator[ReplicaPipeline]:
    pipeline = ReplicaPipeline({**env, **PRODUCTION})
    try:
        await asyncio.to_thread(pipeline.start_all)
        yield pipeline
    finally:
        await asyncio.to_thread(pipeline.stop_all)


async def test_two_of_each_one_killed_in_turn(
    fault_env: dict[str, str],
    mail_server: FaultyMailServer,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    # CI: replica a of each kind; full: then replica b of each as well.
    victims = REPLICAS[:1] if scale.name == "ci" else REPLICAS
    order = [f"{kind}-{r}" for r in victims for kind in ("ingest", "worker", "notifier")]

    async def kill_each_in_turn(pipeline: Pipeline) -> None:
        await asyncio.sleep(scale.settle)
        for name in order:
            if name.startswith("notifier"):
                await until_sending(pipeline.database_url)
            kill = await pipeline.kill(name)
            if name.startswith("notifier"):
                pipeline.kills[-1] = replace(kill, leased=await dead_ones_leases(pipeline))
            await asyncio.sleep(scale.kill_every)  # its twin carries the load alone
            await pipeline.start(name)
        await asyncio.sleep(scale.settle)

    seconds = scale.settle * 2 + len(order) * (scale.kill_every + 1)
    async with running_replicas(fault_env) as pipeline:
        outcome = await scenario.run(
            pipeline, mail_server, RATE, seconds, kill_each_in_turn, scale.drain_timeout
        )
        served = dict(getattr(outcome.reporter, "acked_by", {}))
    fault_report.add(
        "replicas_x2_kill_each",
        outcome.row,
        kills=[k.service for k in pipeline.kills],
        leased_per_kill=[len(k.leased) for k in pipeline.kills if k.service == "notifier"],
        duplicates=outcome.books.duplicates,
        client=outcome.client,
        books=outcome.books.figures(),
        served=served,
    )
    assert not outcome.problems(), outcome.problems()
    assert [k.service for k in pipeline.kills] == [n.split("-")[0] for n in order]
    # Only the kills (and a loaded box) may cost answers: refused or dropped connections and
    # client timeouts, each retried with its key, and sheds with Retry-After.
    assert set(outcome.client["statuses"]) <= {"201", "200", "503", "429", "0", "-1", "-2"}, (
        outcome.client
    )
    assert len(served) == len(REPLICAS), served  # both ingests took incidents


async def dead_ones_leases(pipeline: Pipeline) -> frozenset[str]:
    """Alerts leased when a notifier died that are still leased a moment later: the dead
    process's (its twin's own sends finish, and it claims no expired lease this soon)."""
    first = await scenario.leased_alerts(pipeline)
    await asyncio.sleep(LEASE_SETTLE_SECONDS)
    return first & await scenario.leased_alerts(pipeline)
