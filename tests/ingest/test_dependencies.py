"""When Redis or PostgreSQL is away: records still land (Redis) or requests fail fast with
503 (PostgreSQL); readiness says which."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

from tests.ingest.conftest import incident
from tests.ingest.tcp_proxy import TcpProxy
from tests.support.redis_server import RedisServer
from tests.support.world import seed_school

HANG = 30  # seconds: far past any retry or timeout in play; only a hang reaches it


async def test_redis_down_still_201_and_event_left_for_the_relay(start_app, pg):
    redis = RedisServer().start()
    try:
        async with start_app(redis_url=redis.url()) as client:
            school = await seed_school(pg, "Riverside Primary")
            redis.stop()
            # A hang guard, not a speed claim: the answer must not wait for Redis to return.
            async with asyncio.timeout(HANG):
                r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
            assert r.status == 201, await r.text()
            event = await pg.fetchrow("SELECT enqueued_at, enqueue_count FROM alert_events")
            assert event["enqueued_at"] is None and event["enqueue_count"] == 0
            ready = await client.get("/readyz")
            assert ready.status == 503
            assert (await ready.json())["checks"]["redis"] != "ok"
            r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
            assert r.status == 201
            assert (await client.get("/metrics")).status == 200
    finally:
        redis.cleanup()


async def test_postgres_down_is_503_fast_and_not_ready(start_app, database_url, pg):
    parts = urlsplit(database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    via_proxy = urlunsplit(parts._replace(netloc=f"127.0.0.1:{proxy.port}"))
    async with start_app(database_url=via_proxy, db_acquire_timeout=0.5) as client:
        school = await seed_school(pg, "Riverside Primary")
        assert (await client.get("/readyz")).status == 200
        await proxy.close()
        async with asyncio.timeout(HANG):  # refused, not left hanging on the database
            r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
        assert r.status == 503, await r.text()
        assert "Retry-After" in r.headers
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["checks"]["postgres"] != "ok"
        assert (await client.get("/healthz")).status == 200
