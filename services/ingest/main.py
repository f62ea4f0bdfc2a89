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
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from services.ingest.api import openapi, routes
from services.ingest.api.admin import MAX_ROSTER_BYTES
from services.ingest.api.context import INGEST, STAFF_PG, Ingest, api_caller
from services.ingest.door import (
    DOOR,
    Admission,
    BodyDeadline,
    Door,
    Lane,
    Middleware,
    QueueDelay,
    RateLimiter,
    measure,
)
from services.ingest.metrics import IngestMetrics, refresh_on_scrape
from services.ingest.recording import Recorder
from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.web import routes as pages
from services.ingest.web import uploads as web_uploads
from services.ingest.worker_bell import WorkerBell
from shared import database, runtime
from shared.auth import state as auth_state
from shared.auth.caller import KEY_PATH
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
        recorder=Recorder(settings.db_acquire_timeout, metrics),
    )
    # The door stands outside the problem middleware: a refusal is pre-rendered bytes, and
    # nothing past measuring it runs for a request that will not be served. The body deadline
    # comes just inside it: only an admitted request has a body worth waiting for. All of them
    # after shared.web's metrics guard, so an unwelcome scrape costs no query.
    app.middlewares[1:1] = [
        refresh_on_scrape(metrics),
        measure(metrics),
        _door(app, metrics),
        BodyDeadline(settings.ingest_body_timeout, body_limit(settings)).middleware(),
    ]
    # Every route that takes an API key (shared.auth.caller too) charges its rate bucket.
    app[KEY_PATH] = api_caller
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


# What a multipart form carries besides its files (fields and part headers); generous.
FORM_OVERHEAD = 1024 * 1024
ROSTER = ("PUT", "/v1/schools/{school_id}/roster")


def body_limit(settings: Settings) -> Callable[[web.Request], int]:
    """The most a route could take, refused on Content-Length before a byte is read: a form
    with files (the record-concern page's, the files API's), the roster, or any other body."""
    files = web_uploads.MAX_FILES * settings.max_file_bytes + FORM_OVERHEAD

    def limit(request: web.Request) -> int:
        if request.content_type == "multipart/form-data":
            return files
        route = request.match_info.route
        if route.resource is not None and (route.method, route.resource.canonical) == ROSTER:
            return MAX_ROSTER_BYTES
        return settings.max_body_bytes

    return limit


def server_options(settings: Settings) -> dict[str, Any]:
    """The HTTP server's limits (aiohttp's request handler), checked before any view runs:
    a request line or header field over 8 KiB, or more than 100 headers, is refused with 4xx.
    A request refused before its body was read (shed, too large) lingers no longer than a
    body may take to arrive."""
    return {
        "max_line_size": 8 * 1024,
        "max_field_size": 8 * 1024,
        "max_headers": 100,
        "lingering_time": settings.ingest_body_timeout,
    }


def run(settings: Settings) -> None:
    app = create_app(settings)
    app.on_startup.append(runtime.freeze_heap)
    # Access logs off: per-request lines cost throughput; metrics carry the request counts.
    # The server's options go to the request handler as keywords (a `handler_args=` here was
    # not one: aiohttp warned, dropped them all, access_log=None with them, and logged on).
    web.run_app(
        app,
        host="0.0.0.0",  # noqa: S104 - a container listens on every interface
        port=settings.ingest_port,
        access_log=None,
        print=None,
        **server_options(settings),
    )
