"""Backpressure: refuse fast and honestly instead of queueing without bound.

- At most `ingest_max_in_flight` API requests are served at once; the next gets 503 at once.
- A request waits at most `db_acquire_timeout` for a database connection, then gets 503.
- Each API key has a token bucket (rate/s, burst 2x); over it, 429.
Health, readiness and metrics are never shed: operators must see an overloaded service.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web

from services.ingest.metrics import IngestMetrics
from shared.problems import Overloaded, RateLimited

API_PREFIX = "/v1/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class InFlight:
    """Counts API requests being served; refuses past the limit."""

    def __init__(self, limit: int, metrics: IngestMetrics) -> None:
        self.limit = limit
        self.count = 0
        self.metrics = metrics
        metrics.in_flight.set_function(lambda: self.count)

    def middleware(self) -> Middleware:
        @web.middleware
        async def shed_when_full(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith(API_PREFIX):
                return await handler(request)
            if self.count >= self.limit:
                self.metrics.shed.labels("in_flight").inc()
                raise Overloaded("Too many requests in progress; retry shortly.")
            self.count += 1
            try:
                return await handler(request)
            finally:
                self.count -= 1

        return shed_when_full


def measure(metrics: IngestMetrics) -> Middleware:
    """Outermost: sees the final status of every API request, problems included."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        started = time.perf_counter()
        response = await handler(request)
        metrics.seconds.observe(time.perf_counter() - started)
        metrics.requests.labels(str(response.status)).inc()
        return response

    return observe


class RateLimiter:
    """Token bucket per API key. rate 0 disables it."""

    def __init__(self, rate: float, metrics: IngestMetrics) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self.metrics = metrics
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    def take(self, key: uuid.UUID) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            self.metrics.shed.labels("rate_limit").inc()
            raise RateLimited("This API key is over its request rate; slow down.",
                              retry_after=max(1, math.ceil((1 - tokens) / self.rate)))
        self._buckets[key] = (tokens - 1, now)


@asynccontextmanager
async def connection(pool: asyncpg.Pool, wait: float,
                     metrics: IngestMetrics) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await pool.acquire(timeout=wait)
    except TimeoutError:
        metrics.shed.labels("db_acquire").inc()
        raise Overloaded("All database connections are busy; retry shortly.") from None
    try:
        yield conn
    finally:
        await pool.release(conn)
