"""Ingest metrics on the app's own registry. Queue depth and outbox backlog are read at scrape
time, so they are true when Prometheus looks, not when a request last passed by."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from arq.connections import ArqRedis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError

from shared import database
from shared.queue import NOTIFIER_QUEUE, WORKER_QUEUE
from shared.web import PG, REDIS

log = structlog.get_logger(__name__)
SCRAPE_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class IngestMetrics:
    in_flight: Gauge
    staff_in_flight: Gauge
    requests: Counter
    shed: Counter
    seconds: Histogram
    recording_batch: Histogram
    queue_depth: Gauge
    outbox_pending: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> IngestMetrics:
        return cls(
            in_flight=Gauge(
                "beacon_ingest_in_flight", "API requests being served now", registry=registry
            ),
            staff_in_flight=Gauge(
                "beacon_ingest_staff_in_flight",
                "Staff requests (pages, sign-in, session calls) being served now",
                registry=registry,
            ),
            requests=Counter(
                "beacon_ingest_requests",
                "API requests answered, by status",
                ["status"],
                registry=registry,
            ),
            shed=Counter(
                "beacon_ingest_shed",
                "API requests refused to protect the service",
                ["reason"],
                registry=registry,
            ),
            seconds=Histogram(
                "beacon_ingest_request_seconds",
                "API request latency",
                buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                registry=registry,
            ),
            recording_batch=Histogram(
                "beacon_ingest_recording_batch_size",
                "Incidents written by one round trip and commit (group commit per school)",
                buckets=(1, 2, 4, 8, 16, 32, 64),
                registry=registry,
            ),
            queue_depth=Gauge(
                "beacon_queue_depth", "Jobs waiting in an arq queue", ["queue"], registry=registry
            ),
            outbox_pending=Gauge(
                "beacon_outbox_pending",
                "Alert events not yet resolved by the worker",
                registry=registry,
            ),
        )

    async def refresh(self, redis: ArqRedis, pool: asyncpg.Pool) -> None:
        """Read the backlog gauges; a dependency that is down leaves its gauge at NaN."""
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT):
                for name in (WORKER_QUEUE, NOTIFIER_QUEUE):
                    self.queue_depth.labels(name).set(await redis.zcard(name))
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("metrics_queue_depth_unavailable", error=repr(e))
            for name in (WORKER_QUEUE, NOTIFIER_QUEUE):
                self.queue_depth.labels(name).set(float("nan"))
        try:
            pending = await pool.fetchval(
                "SELECT count(*) FROM alert_events WHERE resolved_at IS NULL",
                timeout=SCRAPE_TIMEOUT,
            )
            self.outbox_pending.set(pending)
        except database.QUERY_FAILED as e:
            log.warning("metrics_outbox_unavailable", error=repr(e))
            self.outbox_pending.set(float("nan"))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refresh_on_scrape(
    metrics: IngestMetrics,
) -> Middleware:
    @web.middleware
    async def refresh(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/metrics":
            await metrics.refresh(request.app[REDIS], request.app[PG])
        return await handler(request)

    return refresh
