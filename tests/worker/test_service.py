"""`beacon worker` as compose runs it: the relay hands over an event nobody enqueued, the job
resolves it, escalation fires with a short delay, and `beacon worker --check` reports health."""

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.support.processes import Service, service_env
from tests.support.redis_server import RedisServer
from tests.support.until import until
from tests.support.world import alerted, record_incident


def worker_check(env) -> int:
    beacon = Path(sys.executable).with_name("beacon")
    return subprocess.run(
        [str(beacon), "worker", "--check"], env=service_env(env), capture_output=True, timeout=20
    ).returncode


async def while_running(condition, what, service, seconds=20):
    """until(), failing at once if the worker process exits meanwhile."""

    async def check():
        assert service.proc.poll() is None, f"worker exited: {service.tail()}"
        return await condition()

    await until(check, seconds, lambda: f"{what}: {service.tail()}")


async def test_worker_process_relays_resolves_escalates_and_reports_health(env, pg, school):
    env = {**env, "ESCALATION_SECONDS": "1", "RELAY_INTERVAL": "0.1"}
    assert worker_check(env) == 1  # no worker yet
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S03", "P0001", ["safeguarding/cla"])
        incident = recorded.id
        event = recorded.event
    worker = Service("worker", env).start()
    try:

        async def healthy():
            return await asyncio.to_thread(worker_check, env) == 0

        await while_running(healthy, "worker never reported healthy", worker)

        async def escalated_twice():
            return (
                await pg.fetchval(
                    """SELECT count(*) FROM alert_events WHERE incident_id = $1
                   AND kind = 'escalation' AND resolved_at IS NOT NULL""",
                    incident,
                )
                == 2
            )

        await while_running(escalated_twice, "no level-2 escalation", worker)
        async with pg.acquire() as conn:
            assert await alerted(conn, event) == {"S01", "S02", "S04", "S05"}
        levels = await pg.fetch(
            """SELECT e.level, s.external_id FROM alerts a JOIN alert_events e
                   ON e.id = a.event_id JOIN staff s ON s.id = a.recipient_id
               WHERE e.kind = 'escalation' ORDER BY e.level""",
        )
        assert [(r["level"], r["external_id"]) for r in levels] == [(1, "S05"), (2, "S01")]
    finally:
        worker.stop()
    assert worker.proc.returncode == 0, worker.tail()
    assert worker_check(env) == 1  # a stopped worker removes its health key


async def test_worker_process_survives_a_redis_restart(env, pg, school):
    server = RedisServer().start()
    env = {**env, "REDIS_URL": server.url(), "RELAY_INTERVAL": "0.1"}
    worker = Service("worker", env).start()
    try:

        async def healthy():
            return await asyncio.to_thread(worker_check, env) == 0

        await while_running(healthy, "worker never reported healthy", worker)
        server.stop()

        async def restarting():
            return "worker_restarting" in worker.tail(20_000)

        await while_running(restarting, "worker did not notice Redis going away", worker)
        async with pg.acquire() as conn:
            event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
        server.start()

        async def resolved():
            return await pg.fetchval(
                "SELECT resolved_at IS NOT NULL FROM alert_events WHERE id = $1", event
            )

        await while_running(resolved, "event not resolved after Redis came back", worker)
        await while_running(healthy, "worker not healthy after Redis came back", worker)
    finally:
        worker.stop()
        server.cleanup()
    assert worker.proc.returncode == 0, worker.tail()
