"""The ingest app's own state (one object under one AppKey) and the per-request helpers every
API view starts with: who is calling, and a database connection that is shed, not awaited
forever, when the pool is exhausted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from services.ingest import backpressure
from services.ingest.backpressure import RateLimiter
from services.ingest.doorbell import Doorbell
from services.ingest.metrics import IngestMetrics
from shared.config import Settings
from shared.identity import ApiCaller, ApiKeyCache
from shared.problems import NotFound, Overloaded
from shared.web import PG

AUTH_TIMEOUT = 5.0


@dataclass(slots=True)
class Ingest:
    settings: Settings
    metrics: IngestMetrics
    limiter: RateLimiter
    api_keys: ApiKeyCache = field(default_factory=ApiKeyCache)
    doorbell: Doorbell | None = None  # built at startup, once Redis and PostgreSQL exist


INGEST = web.AppKey("ingest", Ingest)


def state(request: web.Request) -> Ingest:
    return request.app[INGEST]


async def api_caller(request: web.Request) -> ApiCaller:
    """Authenticate the API key (cached) and charge its rate bucket."""
    ingest = request.app[INGEST]
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            caller = await ingest.api_keys.authenticate(
                request, request.app[PG], acquire_timeout=ingest.settings.db_acquire_timeout)
    except TimeoutError:
        ingest.metrics.shed.labels("db_acquire").inc()
        raise Overloaded("The database is busy; retry shortly.") from None
    ingest.limiter.take(caller.api_key_id)
    return caller


@asynccontextmanager
async def database(request: web.Request) -> AsyncIterator[asyncpg.Connection]:
    ingest = request.app[INGEST]
    async with backpressure.connection(request.app[PG], ingest.settings.db_acquire_timeout,
                                       ingest.metrics) as conn:
        yield conn


def path_id(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"No such {name.removesuffix('_id')}.") from None
