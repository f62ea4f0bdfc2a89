"""The ingest service: where staff and other apps post incidents and actions, and where staff
work in Beacon's pages.

    request -> measure -> door (api or staff lane) -> problems -> view -> records -> 201
                                                                  -> worker bell (arq job)

`api/` holds the JSON views under /v1, `web/` the staff pages, `records/` the use cases both
call (record an incident, append an action, import a roster). Every /v1 view takes an API key
or a staff session (shared.auth.caller).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.ingest.api import openapi, routes
from services.ingest.api.context import INGEST, STAFF_PG, Ingest
from services.ingest.door import (
    DOOR,
    Admission,
    Door,
    Lane,
    Middleware,
    QueueDelay,
    RateLimiter,
    measure,
)
from services.ingest.metrics import IngestMetrics, refresh_on_scrape
from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.web import routes as pages
from services.ingest.worker_bell import WorkerBell
from shared import database
from shared.auth import state as auth_state
from shared.auth.state import AuthConfig
from shared.config import Settings
from shared.web import METRICS, PG, REDIS, SETTINGS, base_app


def create_app(settings: Settings) -> web.Application:
    app = base_app(settings)
    metrics = IngestMetrics.register(app[METRICS])
    app[INGEST] = Ingest(
        settings=settings,
        metrics=metrics,
        limiter=RateLimiter(settings.api_key_rate, metrics),
    )
    # The door stands outside the problem middleware: a refusal is pre-rendered bytes, and
    # nothing past measuring it runs for a request that will not be served.
    app.middlewares[:0] = [refresh_on_scrape(metrics), measure(metrics), _door(app, metrics)]
    app.cleanup_ctx.insert(0, _pools)  # before base_app's, which then leaves PG to us
    app.cleanup_ctx.append(_worker_bell)
    auth_state.install(app, AuthConfig.from_settings(settings), api_keys=app[INGEST].api_keys)
    routes.add_routes(app)
    pages.add_pages(app)
    app[openapi.DOCUMENT] = openapi.document(pages.served(app))
    return app


def _door(app: web.Application, metrics: IngestMetrics) -> Middleware:
    settings = app[SETTINGS]
    api_delay = QueueDelay(settings.ingest_queue_delay_target)
    staff_delay = QueueDelay(settings.ingest_queue_delay_target)
    api = Admission(settings.ingest_max_in_flight, settings.db_pool_size, api_delay, metrics)
    staff = Admission(
        settings.ingest_staff_max_in_flight,
        settings.ingest_staff_db_pool_size,
        staff_delay,
        metrics,
        lane="staff",
    )
    door = Door(Lane("api", api, api_delay, PG), Lane("staff", staff, staff_delay, STAFF_PG))
    app[DOOR] = door
    return door.middleware()


async def _pools(app: web.Application) -> AsyncIterator[None]:
    """One pool per lane of the door. A test may inject PG, and then owns it; the staff lane
    then shares it."""
    settings = app[SETTINGS]
    owned = PG not in app
    if owned:
        app[PG] = await database.create_pool(
            settings.database_url,
            settings.db_pool_size,
            min_size=settings.db_pool_size,
            command_timeout=STATEMENT_TIMEOUT,
        )
        app[STAFF_PG] = await database.create_pool(
            settings.database_url,
            settings.ingest_staff_db_pool_size,
            command_timeout=STATEMENT_TIMEOUT,
        )
    else:
        app[STAFF_PG] = app[PG]
    yield
    if owned:
        await asyncio.gather(app[PG].close(), app[STAFF_PG].close())


async def _worker_bell(app: web.Application) -> AsyncIterator[None]:
    bell = WorkerBell(app[REDIS], app[PG])
    app[INGEST].worker_bell = bell
    marker = asyncio.create_task(bell.run())
    yield
    marker.cancel()
    await asyncio.gather(marker, return_exceptions=True)
    await bell.flush()


def run(settings: Settings) -> None:
    # Access logs off: per-request lines cost throughput; metrics carry the request counts.
    web.run_app(
        create_app(settings),
        host="0.0.0.0",  # noqa: S104 - a container listens on every interface
        port=settings.ingest_port,
        access_log=None,
        print=None,
    )
