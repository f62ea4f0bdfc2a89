"""`beacon notifier` as production runs it: HTTP, the arq doorbell and the sweeper in one
process."""

from __future__ import annotations

import uuid
from collections import Counter

import aiohttp
import asyncpg

from shared import queue
from tests.support.processes import Service
from tests.support.smtp_sink import SmtpSink
from tests.support.until import until
from tests.support.world import (
    School,
    pile_of_queued_alerts,
    record_incident,
    resolve_alerts,
)


async def test_the_notifier_process_sends_on_the_doorbell_and_reports_status(
    env: dict[str, str], pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink
) -> None:
    notifier = Service("notifier", env, health_port=int(env["NOTIFIER_PORT"])).start()
    try:
        async with pg.acquire() as conn:
            incident = await record_incident(conn, school)
            ids = await resolve_alerts(conn, incident.event)
        redis = await queue.connect(env["REDIS_URL"])
        try:
            await queue.enqueue_deliver(redis, incident.event)
        finally:
            await redis.aclose()
        states = await _poll_states(env, school, incident.id, want={"sent"})
        assert states == dict.fromkeys(ids, "sent")
        assert len(smtp_sink.messages) == len(ids)
    finally:
        notifier.stop()
    assert notifier.proc and notifier.proc.returncode == 0, notifier.tail()


async def test_alerts_whose_doorbell_was_lost_are_swept(
    env: dict[str, str], pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink
) -> None:
    async with pg.acquire() as conn:
        incident = await record_incident(conn, school)
        ids = await resolve_alerts(conn, incident.event)
    notifier = Service("notifier", env, health_port=int(env["NOTIFIER_PORT"])).start()
    try:  # nothing is enqueued: only the sweeper can find the alerts
        states = await _poll_states(env, school, incident.id, want={"sent"})
        assert states == dict.fromkeys(ids, "sent")
    finally:
        notifier.stop()


async def _poll_states(
    env: dict[str, str],
    school: School,
    incident_id: uuid.UUID,
    want: set[str],
    deadline: float = 15.0,
) -> dict[str, str]:
    """The incident's alert states once all are in `want` (fails at the deadline)."""
    url = f"http://127.0.0.1:{env['NOTIFIER_PORT']}/v1/incidents/{incident_id}/alerts"
    async with aiohttp.ClientSession() as http:

        async def settled() -> dict[str, str] | None:
            async with http.get(url, headers=school.headers) as r:
                assert r.status == 200
                states = {a["recipient"]: a["state"] for a in await r.json()}
            return states if states and set(states.values()) <= want else None

        return await until(settled, deadline, f"alerts never all {want}")


async def test_sigkill_mid_batch_loses_nothing_and_repeats_only_leased_alerts(
    env: dict[str, str], pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink
) -> None:
    async with pg.acquire() as conn:
        ids = await pile_of_queued_alerts(conn, school, 1500)
    first = Service("notifier", env, health_port=int(env["NOTIFIER_PORT"])).start()
    await _until_sent(pg, at_least=200)
    first.kill()
    leased = await pg.fetchval("SELECT count(*) FROM alerts WHERE state = 'sending'")
    # Drive time instead of waiting out the lease of the dead process.
    await pg.execute(
        "UPDATE alerts SET lease_until = now() - interval '1 second' WHERE state = 'sending'"
    )
    second = Service("notifier", env, health_port=int(env["NOTIFIER_PORT"])).start()
    try:
        await _until_sent(pg, at_least=1500)
    finally:
        second.stop()
    copies = Counter(m.message["Message-ID"] for m in smtp_sink.messages)
    assert set(copies) == {f"<alert-{i}@school.example>" for i in ids}  # none lost
    repeats = sum(n - 1 for n in copies.values())
    print(f"leased at kill: {leased}, repeated after restart: {repeats}")
    assert repeats <= leased, (repeats, leased)  # only alerts caught between 250 and commit


async def _until_sent(pg: asyncpg.Pool, at_least: int, deadline: float = 30.0) -> None:
    async def enough() -> bool:
        return await pg.fetchval("SELECT count(*) FROM alerts WHERE state = 'sent'") >= at_least

    await until(enough, deadline, f"{at_least} alerts not sent before the deadline")
