"""The ingest service: where staff and other apps post incidents and actions.

    request -> measure -> shed_when_full -> problems -> view -> one SQL statement -> 201
                                                                 -> doorbell (arq job)

Staff sign in here too (services/ingest/staff: sessions, authenticators, pages); every /v1
view takes an API key or a staff session (context.caller).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.ingest import access_settings, actions, admin, alert_rules, files, incidents, openapi
from services.ingest.backpressure import Admission, QueueDelay, RateLimiter, measure
from services.ingest.context import INGEST, Ingest
from services.ingest.doorbell import Doorbell
from services.ingest.incident_queries import STATEMENT_TIMEOUT
from services.ingest.metrics import IngestMetrics, refresh_on_scrape
from services.ingest.staff import routes as staff_routes
from services.ingest.staff.state import StaffConfig
from shared import database
from shared.config import Settings
from shared.web import METRICS, PG, REDIS, SETTINGS, base_app


def create_app(settings: Settings) -> web.Application:
    app = base_app(settings)
    metrics = IngestMetrics.register(app[METRICS])
    delay = QueueDelay(settings.ingest_queue_delay_target)
    app[INGEST] = Ingest(
        settings=settings,
        metrics=metrics,
        queue_delay=delay,
        limiter=RateLimiter(settings.api_key_rate, metrics),
    )
    admission = Admission(settings.ingest_max_in_flight, settings.db_pool_size, delay, metrics)
    # The door stands outside the problem middleware: a refusal is pre-rendered bytes, and
    # nothing past measuring it runs for a request that will not be served.
    app.middlewares[:0] = [refresh_on_scrape(metrics), measure(metrics), admission.middleware()]
    app.cleanup_ctx.insert(0, _pool)  # before base_app's, which then leaves PG to us
    app.cleanup_ctx.append(_doorbell)
    app[openapi.DOCUMENT] = openapi.document()
    _routes(app)
    alert_rules.add_routes(app)
    access_settings.add_routes(app)
    staff_routes.add_routes(app, StaffConfig.from_settings(settings), api_keys=app[INGEST].api_keys)
    return app


def _routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/schools", admin.post_school)
    r.add_post("/v1/schools/{school_id}/api-keys", admin.post_api_key)
    r.add_put("/v1/schools/{school_id}/roster", admin.put_roster)
    r.add_get("/v1/categories", admin.get_categories)
    r.add_post("/v1/incidents", incidents.post_incident)
    r.add_get("/v1/incidents/{incident_id}", incidents.get_incident)
    r.add_post("/v1/incidents/{incident_id}/actions", actions.post_action)
    r.add_post("/v1/incidents/{incident_id}/files", files.post_file)
    r.add_get("/v1/incidents/{incident_id}/files/{file_id}", files.get_file)
    r.add_get("/v1/openapi.json", openapi.get_document)


async def _pool(app: web.Application) -> AsyncIterator[None]:
    """The ingest's pool: no session reset on release. Ingest never changes session state
    (no SET, LISTEN or session advisory locks) and asyncpg still rolls back any open
    transaction, so the default per-release RESET query would be a wasted round trip on every
    request."""
    if PG in app:  # injected by a test: theirs to close
        yield
        return
    settings = app[SETTINGS]
    app[PG] = await database.create_pool(
        settings.database_url,
        settings.db_pool_size,
        min_size=settings.db_pool_size,
        command_timeout=STATEMENT_TIMEOUT,
    )
    yield
    await app[PG].close()


async def _doorbell(app: web.Application) -> AsyncIterator[None]:
    doorbell = Doorbell(app[REDIS], app[PG])
    app[INGEST].doorbell = doorbell
    marker = asyncio.create_task(doorbell.run())
    yield
    marker.cancel()
    await asyncio.gather(marker, return_exceptions=True)
    await doorbell.flush()


def run(settings: Settings) -> None:
    # Access logs off: per-request lines cost throughput; metrics carry the request counts.
    web.run_app(
        create_app(settings),
        host="0.0.0.0",  # noqa: S104 - a container listens on every interface
        port=settings.ingest_port,
        access_log=None,
        print=None,
    )
