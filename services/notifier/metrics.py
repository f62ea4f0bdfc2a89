"""Notifier metrics on the app's own registry (or a test's). `beacon_alerts_due` is read from
PostgreSQL at scrape time, so it is true when Prometheus looks."""

from __future__ import annotations

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.notifier import claims
from shared import database

log = structlog.get_logger(__name__)
SCRAPE_TIMEOUT = 1.0


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "beacon_emails_sent",
            "Alert emails accepted by the mail server (250)",
            registry=registry,
        )
        self.failed = Counter(
            "beacon_emails_failed",
            "Failed send attempts: transient (will retry), permanent (5xx), exhausted (gave up)",
            ["kind"],
            registry=registry,
        )
        self.send_seconds = Histogram(
            "beacon_email_send_seconds",
            "Time to hand one email to the mail server",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.due = Gauge(
            "beacon_alerts_due",
            "Alerts waiting to be sent now (expired leases included)",
            registry=registry,
        )

    async def refresh(self, pool: asyncpg.Pool) -> None:
        try:
            async with pool.acquire(timeout=SCRAPE_TIMEOUT) as conn:
                self.due.set(await claims.count_due(conn))
        except database.QUERY_FAILED as e:
            log.warning("metrics_alerts_due_unavailable", error=repr(e))
            self.due.set(float("nan"))
