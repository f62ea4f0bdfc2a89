"""What every HTTP service shares: typed app keys, resource contexts, health and metrics."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator

import asyncpg
import prometheus_client
from aiohttp import web
from arq.connections import ArqRedis

from shared import database, queue
from shared.config import Settings
from shared.problems import Handler, problem_middleware

SETTINGS = web.AppKey("settings", Settings)
PG = web.AppKey("pg", asyncpg.Pool)
REDIS = web.AppKey("redis", ArqRedis)
METRICS = web.AppKey("metrics", prometheus_client.CollectorRegistry)
# The pool a request's lane uses (ingest keeps one for the machine API, one for staff);
# absent, the app's own PG.
REQUEST_PG = web.RequestKey("pg", asyncpg.Pool)


def request_pool(request: web.Request) -> asyncpg.Pool:
    return request.get(REQUEST_PG) or request.app[PG]


def base_app(settings: Settings, client_max_size: int | None = None) -> web.Application:
    app = web.Application(
        middlewares=[metrics_guard, problem_middleware],
        client_max_size=client_max_size or settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = prometheus_client.CollectorRegistry()
    app.cleanup_ctx.append(_postgres)
    app.cleanup_ctx.append(_redis)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    # A test may inject its own pool; then it also owns closing it.
    owned = PG not in app
    if owned:
        settings = app[SETTINGS]
        app[PG] = await database.create_pool(settings.database_url, settings.db_pool_size)
    yield
    if owned:
        await app[PG].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    owned = REDIS not in app
    if owned:
        app[REDIS] = await queue.connect(app[SETTINGS].redis_url)
    await queue.warn_if_redis_unsafe(app[REDIS])
    yield
    if owned:
        await app[REDIS].aclose()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(1):
            await request.app[PG].fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as e:
        checks["postgres"] = f"unavailable: {type(e).__name__}"
    try:
        async with asyncio.timeout(1):
            await request.app[REDIS].ping()
        checks["redis"] = "ok"
    except Exception as e:
        checks["redis"] = f"unavailable: {type(e).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_PROXIED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


@web.middleware
async def metrics_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """First of all: /metrics (counts of schools' traffic, queue depths) is for the scraper.
    With BEACON_METRICS_TOKEN set it asks for `Authorization: Bearer <token>` (401); unset, it
    answers only a loopback peer that came through no proxy (404 for anyone else, as if absent),
    since a proxy on the same host would make every caller look local."""
    if request.path != "/metrics":
        return await handler(request)
    token = request.app[SETTINGS].metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    elif request.remote not in _LOOPBACK or any(h in request.headers for h in _PROXIED):
        return web.Response(status=404)
    return await handler(request)


async def metrics(request: web.Request) -> web.Response:
    body = prometheus_client.generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})
