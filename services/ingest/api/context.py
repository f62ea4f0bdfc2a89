"""The ingest app's own state (one object under one AppKey) and the per-request helpers every
API view starts with: who is calling (an API key or a staff session), and a database
connection that is shed, not awaited forever, when the pool is exhausted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from services.ingest import door as backpressure
from services.ingest.door import LANE, QueueDelay, RateLimiter
from services.ingest.metrics import IngestMetrics
from services.ingest.recording import Recorder, Target
from services.ingest.worker_bell import WorkerBell
from shared import access
from shared.auth import caller as auth
from shared.auth.api_keys import ApiCaller, ApiKeyCache
from shared.auth.caller import Caller
from shared.config import Settings
from shared.database import Connection
from shared.problems import Forbidden, NotFound, Overloaded
from shared.web import request_pool

AUTH_TIMEOUT = 5.0


@dataclass(slots=True)
class Ingest:
    settings: Settings
    metrics: IngestMetrics
    limiter: RateLimiter
    recorder: Recorder
    api_keys: ApiKeyCache = field(default_factory=ApiKeyCache)
    worker_bell: WorkerBell | None = None  # built at startup, once Redis and PostgreSQL exist


INGEST = web.AppKey("ingest", Ingest)
# The staff lane's own pool (services.ingest.door.Door).
STAFF_PG = web.AppKey("staff_pg", asyncpg.Pool)


def state(request: web.Request) -> Ingest:
    return request.app[INGEST]


async def api_caller(request: web.Request) -> ApiCaller:
    """Authenticate the API key (cached) and charge its rate bucket."""
    ingest = request.app[INGEST]
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            caller = await ingest.api_keys.authenticate(
                request, request_pool(request), acquire_timeout=ingest.settings.db_acquire_timeout
            )
    except TimeoutError:
        ingest.metrics.shed.labels("db_acquire").inc()
        raise Overloaded("The database is busy; retry shortly.") from None
    ingest.limiter.take(caller.api_key_id)
    return caller


async def caller(request: web.Request) -> Caller:
    """An API key (the hot path: cached, no query) or a staff session (cookie + CSRF)."""
    return await auth.caller(request, api_caller)


async def session_author(
    request: web.Request, who: Caller, body: object, incident_id: uuid.UUID | None = None
) -> object:
    """A session records as its own staff member only: the body's author is filled in, and an
    author naming anyone else is refused. For an action (`incident_id`) the session must also
    be able to see the incident: not-yours answers 404, as missing does."""
    assert who.session is not None  # noqa: S101 (callers check)
    async with database(request) as conn:
        if incident_id is not None:
            await auth.visible_or_404(conn, who, incident_id)
        own, member = await auth.own_identity(conn, who.session)
    if not access.can_add_incident(member, who.school_id):
        raise Forbidden("Only teaching, pastoral and leadership staff record concerns.")
    if not isinstance(body, dict):
        return body  # the parser names what is wrong with it
    return {**body, "author": auth.acting_as(body.get("author"), own, "author")}


@asynccontextmanager
async def database(request: web.Request) -> AsyncIterator[Connection]:
    """A connection from the request's lane, shed with 503 past db_acquire_timeout."""
    ingest = request.app[INGEST]
    async with backpressure.connection(
        request_pool(request), ingest.settings.db_acquire_timeout, ingest.metrics, _delay(request)
    ) as conn:
        yield conn


def recording_target(request: web.Request, school_id: uuid.UUID) -> Target:
    """Where the request's recordings are written: its lane's pool, one school's batches."""
    return Target(request_pool(request), _delay(request), school_id)


def _delay(request: web.Request) -> QueueDelay | None:
    """The request's lane's standing-queue test (None outside a lane)."""
    lane = request.get(LANE)
    return None if lane is None else lane.delay


def path_id(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"No such {name.removesuffix('_id')}.") from None
