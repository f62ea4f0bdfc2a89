"""Measuring an overload run: answer times as the client saw them, how deep the alert backlog
got, and how long after POST each alert reached the mail_server, urgent (restricted) vs routine."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.load import percentile
from tests.faults.client import Attempt, Outcome

_BACKLOG = """
SELECT (SELECT count(*) FROM alert_events
        WHERE school_id = ANY($1::uuid[]) AND resolved_at IS NULL)
     + (SELECT count(*) FROM alerts
        WHERE school_id = ANY($1::uuid[]) AND state NOT IN ('sent', 'failed'))"""

_ALERTS = """
SELECT id::text, incident_id::text, priority, extract(epoch FROM queued_at)::float8 AS queued
FROM alerts WHERE school_id = ANY($1::uuid[])"""


@dataclass
class BacklogWatch:
    """Samples outbox events + undelivered alerts every `every` seconds while it runs."""

    dsn: str
    schools: list[str]
    every: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)

    async def run(self) -> None:
        ids = [uuid.UUID(s) for s in self.schools]
        conn = await asyncpg.connect(self.dsn)
        try:
            while True:
                self.samples.append((time.monotonic(), await conn.fetchval(_BACKLOG, ids)))
                await asyncio.sleep(self.every)
        finally:
            await conn.close()

    @property
    def peak(self) -> int:
        return max((n for _, n in self.samples), default=0)


def answer_figures(attempts: list[Attempt]) -> dict[str, Any]:
    answered = [a.seconds for a in attempts if a.status > 0]
    return {
        "p50_ms": round(percentile(answered, 50) * 1000, 1),
        "p99_ms": round(percentile(answered, 99) * 1000, 1),
        "max_ms": round(max(answered, default=0.0) * 1000, 1),
    }


async def delivery_latency(
    dsn: str, schools: list[str], outcomes: dict[str, Outcome], accepted: list[tuple[float, str]]
) -> dict[str, list[float]]:
    """Seconds from the incident's acknowledgement to its alert's first SMTP acceptance,
    split by urgency (priority 1: restricted); `*_resolved` is the part until the worker
    created the alert row, the rest is the notifier's."""
    conn = await asyncpg.connect(dsn)
    try:
        alerts = await conn.fetch(_ALERTS, [uuid.UUID(s) for s in schools])
    finally:
        await conn.close()
    acked = {o.incident_id: o.acknowledged_at for o in outcomes.values()}
    first: dict[str, float] = {}
    for at, alert_id in sorted(accepted):
        first.setdefault(alert_id, at)
    split: dict[str, list[float]] = {
        k: [] for k in ("urgent", "routine", "urgent_resolved", "routine_resolved")
    }
    for a in alerts:
        if a["id"] in first and a["incident_id"] in acked:
            kind = "urgent" if a["priority"] > 0 else "routine"
            split[kind].append(first[a["id"]] - acked[a["incident_id"]])
            split[f"{kind}_resolved"].append(a["queued"] - acked[a["incident_id"]])
    return split


def read_counter(path: Path) -> list[tuple[float, str]]:
    """bench/smtp_counter.py's record: (accepted at, alert id) per message."""
    rows = []
    for line in path.read_text().splitlines():
        at, message_id = line.split("\t", 1)
        alert_id = message_id.strip("<>").removeprefix("alert-").split("@", 1)[0]
        rows.append((float(at), alert_id))
    return rows


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


@dataclass
class LoopLag:
    """How late the client's own event loop wakes up: when it is late, the client's answer
    times include its own delay, not only the server's."""

    every: float = 0.05
    lags: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            due = time.monotonic() + self.every
            await asyncio.sleep(self.every)
            self.lags.append(time.monotonic() - due)

    def figures(self) -> dict[str, float]:
        return {
            "client_lag_p99_ms": round(percentile(self.lags, 99) * 1000, 1),
            "client_lag_max_ms": round(max(self.lags, default=0.0) * 1000, 1),
        }


def server_view(metrics_text: str) -> dict[str, Any]:
    """From ingest's /metrics: API requests its handlers took over 1 s, and sheds by reason."""
    over, total, shed = 0.0, 0.0, {}
    for line in metrics_text.splitlines():
        if line.startswith('beacon_ingest_request_seconds_bucket{le="1.0"}'):
            over -= float(line.split()[-1])
        elif line.startswith("beacon_ingest_request_seconds_count"):
            total = float(line.split()[-1])
        elif line.startswith("beacon_ingest_shed_total{"):
            shed[line.split('"')[1]] = int(float(line.split()[-1]))
    return {"server_requests": int(total), "server_over_1s": int(total + over), "server_shed": shed}
