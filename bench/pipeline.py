"""The whole pipeline under a fixed arrival rate: POST /v1/incidents -> worker -> notifier ->
SMTP accepted, with every service a real process on its own database and redis-server.

Incidents about pupil P0001 (class C3) by S04 alert 5 staff under the default rules (SLT S01
and S02, pastoral S03, class teachers S06 and S08). A counting SMTP sink in its own process
records when each Message-ID was accepted; the notifier's Message-ID carries the alert id, so
each email is matched to its alert, its incident and the time that incident's POST was due.

    python bench/pipeline.py                        # 100 incidents/s for 20 s
    python bench/pipeline.py --rate 200 --duration 10
    python bench/pipeline.py --quick                # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.load import open_loop, percentile  # noqa: E402
from bench.report import git_commit, write_json  # noqa: E402
from bench.stack import (  # noqa: E402
    beacon_database,
    beacon_env,
    beacon_service,
    provision_school,
    redis_server,
    script,
)
from shared.logs import configure_logging  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.roster import roster  # noqa: E402

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Tuned for throughput, as bench/README.md explains; everything else is the default.
TUNING = {
    "API_KEY_RATE": "0",
    "WORKER_POLL_DELAY": "0.05",
    "WORKER_MAX_JOBS": "100",
    "SMTP_CONNECTIONS": "10",
}


def incident_body() -> bytes:
    occurred = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "author": "S04",
            "pupil": "P0001",
            "occurred_at": occurred,
            "description": "Upset at lunch; said things are hard at home. Spoke to them after.",
            "categories": ["cause-for-concern/mental-health"],
            "alert_staff": [],
        }
    ).encode()


class Poster:
    """Posts incidents on schedule; remembers which incident each accepted request created."""

    def __init__(self, http: aiohttp.ClientSession, url: str, key: str) -> None:
        self.http, self.url = http, url
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.body = incident_body()
        self.incidents: dict[int, str] = {}  # request index -> incident id
        self.statuses: Counter[int] = Counter()

    async def fire(self, i: int) -> int:
        async with self.http.post(self.url, data=self.body, headers=self.headers) as r:
            self.statuses[r.status] += 1
            if r.status == 201:
                self.incidents[i] = (await r.json())["id"]
            return r.status


@dataclass
class Posted:
    due: dict[str, float]  # incident id -> epoch seconds its POST was due
    statuses: dict[int, int]


async def post_incidents(ingest_url: str, key: str, rate: float, duration: float) -> Posted:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        poster = Poster(http, f"{ingest_url}/v1/incidents", key)
        wall = time.time() - time.monotonic()  # the sink records wall-clock times
        run = await open_loop(rate, duration, poster.fire)
    due = {
        poster.incidents[s.index]: s.due + wall for s in run.samples if s.index in poster.incidents
    }
    return Posted(due, dict(poster.statuses))


async def wait_drained(dsn: str, school_id: str, timeout: float) -> dict[str, int]:
    """Poll (never sleep blindly) until every event is resolved and every alert is final."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            state = dict(await conn.fetchrow(DRAIN_STATE, uuid.UUID(school_id)))
            if state["unresolved"] == 0 and state["alerts"] == state["final"]:
                return state
            if time.monotonic() > deadline:
                return {**state, "timed_out": 1}
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


DRAIN_STATE = """
SELECT (SELECT count(*) FROM alert_events WHERE school_id = $1 AND resolved_at IS NULL)
           AS unresolved,
       count(*) AS alerts,
       count(*) FILTER (WHERE state IN ('sent', 'failed')) AS final,
       count(*) FILTER (WHERE state = 'failed') AS failed
FROM alerts WHERE school_id = $1"""


async def alert_rows(dsn: str, school_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT id, incident_id, extract(epoch FROM queued_at) AS queued FROM alerts "
            "WHERE school_id = $1",
            uuid.UUID(school_id),
        )
    finally:
        await conn.close()


def read_accepted(path: Path) -> list[tuple[float, str]]:
    rows = [line.split("\t", 1) for line in path.read_text().splitlines()]
    return [(float(t), mid) for t, mid in rows]


def figures(
    posted: Posted, alerts: list[asyncpg.Record], accepted: list[tuple[float, str]]
) -> dict[str, Any]:
    """Emails/s, POST-to-SMTP latency, duplicates and missing, from the three records."""
    by_alert = {str(a["id"]): a for a in alerts}
    first_accept: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for t, mid in sorted(accepted):
        found = UUID.search(mid)
        alert = found[0] if found else mid
        seen[alert] += 1
        first_accept.setdefault(alert, t)
    delivered = [a for a in first_accept if a in by_alert]
    latency = [first_accept[a] - posted.due[str(by_alert[a]["incident_id"])] for a in delivered]
    to_queue = [
        float(by_alert[a]["queued"]) - posted.due[str(by_alert[a]["incident_id"])]
        for a in delivered
    ]
    to_smtp = [first_accept[a] - float(by_alert[a]["queued"]) for a in delivered]
    per_incident = Counter(str(a["incident_id"]) for a in alerts)
    span = max(first_accept.values(), default=0) - min(posted.due.values(), default=0)
    return {
        "incidents_accepted": len(posted.due),
        "post_statuses": posted.statuses,
        "alerts_expected": len(alerts),
        "emails_accepted": len(accepted),
        "delivered_unique": len(delivered),
        "missing": len(by_alert) - len(delivered),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "unknown_message_ids": len([a for a in first_accept if a not in by_alert]),
        "incidents_without_alerts": len(posted.due) - len(per_incident),
        "recipients_per_incident": sorted(Counter(per_incident.values()).items()),
        "emails_per_s": len(delivered) / span if span > 0 else 0.0,
        "latency_p50_ms": percentile(latency, 50) * 1000,
        "latency_p99_ms": percentile(latency, 99) * 1000,
        "latency_max_ms": max(latency, default=float("nan")) * 1000,
        "post_to_queued_p50_ms": percentile(to_queue, 50) * 1000,
        "post_to_queued_p99_ms": percentile(to_queue, 99) * 1000,
        "queued_to_smtp_p50_ms": percentile(to_smtp, 50) * 1000,
        "queued_to_smtp_p99_ms": percentile(to_smtp, 99) * 1000,
    }


async def pipeline(args: argparse.Namespace) -> dict[str, Any]:
    records = Path(tempfile.mkdtemp(prefix="beacon-bench-")) / "accepted.tsv"
    async with AsyncExitStack() as stack:
        redis = redis_server(stack)
        dsn = await beacon_database(stack)
        smtp_port = free_port()
        sink = script(
            stack, "smtp_counter", ["--port", str(smtp_port), "--out", str(records)], smtp_port
        )
        env = beacon_env(dsn, redis.url(0), smtp_port, LOG_LEVEL=args.log_level, **TUNING)
        pids = {
            name: beacon_service(stack, name, env).proc.pid  # type: ignore[union-attr]
            for name in ("ingest", "worker", "notifier")
        }
        pids["smtp_sink"] = sink.pid
        ingest_url = f"http://127.0.0.1:{env['INGEST_PORT']}"
        school_id, key = await provision_school(ingest_url, roster())
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        posted = await post_incidents(ingest_url, key, args.rate, args.duration)
        drain = await wait_drained(dsn, school_id, args.drain_timeout)
        cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in pids.items()}
        alerts = await alert_rows(dsn, school_id)
        sink.terminate()
        sink.wait(10)
    return {"drain": drain, "cpu_seconds": cpu, **figures(posted, alerts, read_accepted(records))}


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used: shows which service the time went to."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Incidents through ingest, worker and notifier.")
    p.add_argument("--rate", type=float, default=100.0, help="incidents per second")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of arrivals")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds to wait after the last POST for every alert to be final",
    )
    p.add_argument("--log-level", default="INFO", help="services' LOG_LEVEL (compose: INFO)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 incidents/s for 2 s")
    args = p.parse_args(argv)
    if args.quick:
        args.rate, args.duration, args.drain_timeout = 20.0, 2.0, 20.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("WARNING", service="bench")  # keep migration chatter off the table
    load_before = os.getloadavg()  # other work on the box skews every figure: record it
    result = asyncio.run(pipeline(args))
    print(json.dumps(result, indent=2))
    path = write_json(
        args.out,
        "pipeline",
        {
            "command": " ".join(sys.argv),
            "commit": git_commit(),
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "rate": args.rate,
            "duration_s": args.duration,
            "tuning": TUNING,
            "result": result,
        },
    )
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
