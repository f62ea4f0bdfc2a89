"""`beacon worker` as compose runs it: the relay hands over an event nobody enqueued, the job
resolves it, escalation fires with a short delay, and `beacon worker --check` reports health."""

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import Service, service_env
from tests.support.redis_server import RedisServer
from tests.worker.fixtures import recipients, record_incident


def worker_check(env) -> int:
    beacon = Path(sys.executable).with_name("beacon")
    return subprocess.run(
        [str(beacon), "worker", "--check"], env=service_env(env), capture_output=True, timeout=20
    ).returncode


async def until(condition, what, service, seconds=20):
    deadline = time.monotonic() + seconds
    while not await condition():
        assert service.proc.poll() is None, f"worker exited: {service.tail()}"
        assert time.monotonic() < deadline, f"{what}: {service.tail()}"
        await asyncio.sleep(0.05)


async def test_worker_process_relays_resolves_escalates_and_reports_health(env, pg, school):
    env = {**env, "ESCALATION_SECONDS": "1", "RELAY_INTERVAL": "0.1"}
    assert worker_check(env) == 1  # no worker yet
    async with pg.acquire() as conn:
        incident, event = await record_incident(conn, school, "S03", "P0001", ["safeguarding/cla"])
    worker = Service("worker", env).start()
    try:

        async def healthy():
            return await asyncio.to_thread(worker_check, env) == 0

        await until(healthy, "worker never reported healthy", worker)

        async def escalated_twice():
            return (
                await pg.fetchval(
                    """SELECT count(*) FROM alert_events WHERE incident_id = $1
                   AND kind = 'escalation' AND resolved_at IS NOT NULL""",
                    incident,
                )
                == 2
            )

        await until(escalated_twice, "no level-2 escalation", worker)
        async with pg.acquire() as conn:
            assert await recipients(conn, event) == {"S01", "S02", "S04", "S05"}
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

        await until(healthy, "worker never reported healthy", worker)
        server.stop()

        async def restarting():
            return "worker_restarting" in worker.tail(20_000)

        await until(restarting, "worker did not notice Redis going away", worker)
        async with pg.acquire() as conn:
            _, event = await record_incident(conn, school, "S09", "P0001", ["behaviour"])
        server.start()

        async def resolved():
            return await pg.fetchval(
                "SELECT resolved_at IS NOT NULL FROM alert_events WHERE id = $1", event
            )

        await until(resolved, "event not resolved after Redis came back", worker)
        await until(healthy, "worker not healthy after Redis came back", worker)
    finally:
        worker.stop()
        server.cleanup()
    assert worker.proc.returncode == 0, worker.tail()
