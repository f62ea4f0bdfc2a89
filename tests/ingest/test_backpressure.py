"""Backpressure: bounded in-flight requests, pool waits and per-key rates, all answered fast
with 503/429 + Retry-After; health, readiness and metrics are never shed."""

from __future__ import annotations

import asyncio

from shared.web import PG
from tests.ingest.conftest import incident
from tests.support.world import seed_school

HANG = 30  # seconds: a hang guard, not a speed claim


async def test_past_max_in_flight_requests_are_shed_fast_with_retry_after(start_app, pg):
    async with start_app(ingest_max_in_flight=1) as client:
        school = await seed_school(pg, "Riverside Primary")
        async with asyncio.timeout(HANG):  # every request answered, none left waiting
            responses = await asyncio.gather(
                *(
                    client.post("/v1/incidents", json=incident(), headers=school.headers)
                    for _ in range(30)
                )
            )
        statuses = [r.status for r in responses]
        assert set(statuses) <= {201, 503}, statuses
        shed = [r for r in responses if r.status == 503]
        assert shed, "nothing was shed with one request allowed in flight"
        assert all(r.headers["Retry-After"].isdigit() for r in shed)
        assert all(r.content_type == "application/problem+json" for r in shed)
        assert await pg.fetchval("SELECT count(*) FROM incidents") == statuses.count(201)
        health = await asyncio.gather(*(client.get(p) for p in ("/healthz", "/metrics")))
        assert [h.status for h in health] == [200, 200]
        text = await health[1].text()
        assert 'beacon_ingest_shed_total{reason="in_flight"}' in text


async def test_waiting_too_long_for_a_database_connection_is_503(start_app, pg):
    async with start_app(db_pool_size=1, db_acquire_timeout=0.05) as client:
        school = await seed_school(pg, "Riverside Primary")
        pool = client.server.app[PG]
        async with pool.acquire():  # the only connection is busy elsewhere
            # Answered while the connection is still held: the wait gave up by itself.
            async with asyncio.timeout(HANG):
                r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
        assert r.status == 503 and "Retry-After" in r.headers
        metrics = await (await client.get("/metrics")).text()
        assert 'beacon_ingest_shed_total{reason="db_acquire"} 1.0' in metrics
        assert await pg.fetchval("SELECT count(*) FROM incidents") == 0


async def test_api_key_over_its_rate_gets_429(start_app, pg):
    async with start_app(api_key_rate=0.5) as client:  # burst of 1, then one every 2 s
        school = await seed_school(pg, "Riverside Primary")
        first = await client.post("/v1/incidents", json=incident(), headers=school.headers)
        second = await client.post("/v1/incidents", json=incident(), headers=school.headers)
        assert first.status == 201
        assert second.status == 429
        assert int(second.headers["Retry-After"]) >= 1
        assert second.content_type == "application/problem+json"
        other = await seed_school(pg, "Other")
        r = await client.post("/v1/incidents", json=incident(), headers=other.headers)
        assert r.status == 201  # the bucket is per key


async def test_metrics_expose_in_flight_queue_depth_and_outbox(client, school):
    await client.post("/v1/incidents", json=incident(), headers=school.headers)
    text = await (await client.get("/metrics")).text()
    for line in (
        "beacon_ingest_in_flight 0.0",
        'beacon_queue_depth{queue="beacon:worker"} 1.0',
        'beacon_queue_depth{queue="beacon:notifier"} 0.0',
        "beacon_outbox_pending 1.0",
        'beacon_ingest_requests_total{status="201"}',
        "beacon_ingest_request_seconds_count",
    ):
        assert line in text, line
