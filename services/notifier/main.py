"""The notifier service: the status API and the delivery engine in one process.

    beacon notifier -> run(settings): HTTP (status, /healthz, /readyz, /metrics) on
                       NOTIFIER_PORT, plus the arq worker consuming `deliver` doorbells and the
                       engine's pump/sweeper, all started and stopped by the app's cleanup_ctx.

Tests build the same app with `create_app(settings, delivery=True)`, or just the engine with
`sender.build_engine` and the worker with `jobs.build_worker`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.notifier import status_api as status
from services.notifier.engine import Engine, build_engine, engine_pool
from services.notifier.jobs import build_worker, close_worker
from services.notifier.metrics import NotifierMetrics
from shared import runtime
from shared.auth import state as auth_state
from shared.auth.caller import KEY_PATH, rate_limited
from shared.auth.state import AuthConfig
from shared.auth.throttle import KeyRate
from shared.config import Settings
from shared.problems import Handler
from shared.web import METRICS, PG, SETTINGS, base_app

NOTIFIER_METRICS = web.AppKey("notifier_metrics", NotifierMetrics)
ENGINE = web.AppKey("engine", Engine)


def create_app(settings: Settings, delivery: bool = False) -> web.Application:
    app = base_app(settings)
    app[NOTIFIER_METRICS] = NotifierMetrics(app[METRICS])
    app.middlewares.append(_refresh_gauges)
    # The status API takes staff sessions as well as API keys: the same state as ingest's.
    auth_state.install(app, AuthConfig.from_settings(settings))
    # Its own bucket per API key, at ingest's rate: every status call a key makes is charged.
    app[KEY_PATH] = rate_limited(KeyRate(settings.api_key_rate).take)
    status.setup(app)
    if delivery:
        app.cleanup_ctx.append(_delivery)
    return app


async def _delivery(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = await engine_pool(settings)
    try:
        engine = build_engine(settings, pool, app[NOTIFIER_METRICS])
        app[ENGINE] = engine
        worker = build_worker(settings, engine)
        async with engine.running():
            # The worker keeps its own Redis connection: Worker.close() closes it.
            consuming = asyncio.create_task(worker.async_run(), name="notifier-arq")
            yield
            await close_worker(worker)
            consuming.cancel()
            await asyncio.gather(consuming, return_exceptions=True)
    finally:
        await pool.close()


@web.middleware
async def _refresh_gauges(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/metrics":
        await request.app[NOTIFIER_METRICS].refresh(request.app[PG])
    return await handler(request)


def run(settings: Settings) -> None:
    app = create_app(settings, delivery=True)
    app.on_startup.append(runtime.freeze_heap)
    web.run_app(
        app,
        host="0.0.0.0",  # noqa: S104 - a container listens on every interface
        port=settings.notifier_port,
        access_log=None,
        print=None,
    )
