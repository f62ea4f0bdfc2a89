"""`beacon notifier` as production runs it: HTTP, the arq doorbell and the sweeper in one
process."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import asyncpg

from shared import queue
from tests.notifier.fixtures import School, add_alerts, add_event, add_incident
from tests.support.processes import Service
from tests.support.smtp_sink import SmtpSink


async def test_the_notifier_process_sends_on_the_doorbell_and_reports_status(
        env: dict[str, str], pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink) -> None:
    notifier = Service("notifier", env, health_port=int(env["NOTIFIER_PORT"])).start()
    try:
        async with pg.acquire() as conn:
            incident = await add_incident(conn, school)
            event = await add_event(conn, incident)
            await add_alerts(conn, incident, event, ["S01", "S02", "S03"])
        redis = await queue.connect(env["REDIS_URL"])
        try:
            await queue.enqueue_deliver(redis, event)
        finally:
            await redis.aclose()
        states = await _poll_states(env, school, incident.id, want={"sent"})
        assert states == {"S01": "sent", "S02": "sent", "S03": "sent"}
        assert len(smtp_sink.messages) == 3
    finally:
        notifier.stop()
    assert notifier.proc and notifier.proc.returncode == 0, notifier.tail()


async def test_alerts_whose_doorbell_was_lost_are_swept(
        env: dict[str, str], pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink) -> None:
    async with pg.acquire() as conn:
        incident = await add_incident(conn, school)
        await add_alerts(conn, incident, await add_event(conn, incident), ["S05"])
    notifier = Service("notifier", env, health_port=int(env["NOTIFIER_PORT"])).start()
    try:  # nothing is enqueued: only the sweeper can find the alert
        assert await _poll_states(env, school, incident.id, want={"sent"}) == {"S05": "sent"}
    finally:
        notifier.stop()


async def _poll_states(env: dict[str, str], school: School, incident_id: uuid.UUID,
                       want: set[str], deadline: float = 15.0) -> dict[str, str]:
    url = f"http://127.0.0.1:{env['NOTIFIER_PORT']}/v1/incidents/{incident_id}/alerts"
    headers = {"Authorization": f"Bearer {school.api_key}"}
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(url, headers=headers) as r:
                assert r.status == 200
                states = {a["recipient"]: a["state"] for a in await r.json()}
            if set(states.values()) <= want or loop.time() > end:
                return states
            await asyncio.sleep(0.05)
