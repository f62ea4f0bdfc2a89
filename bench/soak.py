"""Soak: the whole pipeline for a long while at a school-day mix, watching for growth.

Every service runs as a real process with compose's settings on its own database and
redis-server (AOF on, noeviction), alerts go to a counting SMTP sink in its own process.
Requests arrive open-loop (bench/load.py) at --rate from --schools schools' API keys: mostly
routine incidents, some restricted ones, actions on recent incidents and status reads. After
every --interval seconds one row: request latency per kind, shed and errors, backlog, and per
service resident memory, open file descriptors; PostgreSQL connections (pg_stat_activity) and
Redis clients (CLIENT LIST). The summary compares the last interval with the first.

    python bench/soak.py                      # 10 minutes, 20 requests/s, 60 s rows
    python bench/soak.py --minutes 3 --interval 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.load import open_loop, percentile  # noqa: E402
from bench.report import git_commit, print_table, write_json  # noqa: E402
from bench.stack import (  # noqa: E402
    beacon_database,
    beacon_env,
    beacon_service,
    provision_school,
    redis_server,
    script,
)
from shared.logs import configure_logging  # noqa: E402
from tests.faults.client import RESTRICTED, ROUTINE_C3, ROUTINE_C4, body_for  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.roster import roster  # noqa: E402

# A school day: mostly routine records, a few safeguarding ones, follow-ups and look-ups.
MIX = [("routine", 0.75), ("restricted", 0.05), ("action", 0.10), ("read", 0.10)]
COLUMNS = [
    "minute",
    "requests",
    "ok",
    "shed",
    "errors",
    "routine_p50",
    "routine_p99",
    "action_p99",
    "read_p99",
    "backlog",
    "rss_ingest",
    "rss_worker",
    "rss_notifier",
    "fds",
    "pg_conns",
    "redis_clients",
]
GROWTH = [
    "rss_ingest",
    "rss_worker",
    "rss_notifier",
    "fds",
    "pg_conns",
    "redis_clients",
    "routine_p99",
    "backlog",
]


class SchoolDay:
    """Sends request i as one kind of the mix, from one of the schools, and times it."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ingest: str,
        notifier: str,
        keys: list[str],
        seed: int = 7,
    ) -> None:
        self.http, self.ingest, self.notifier, self.keys = http, ingest, notifier, keys
        self.random = random.Random(seed)
        self.recent: list[list[str]] = [[] for _ in keys]  # incident ids per school
        self.kinds: dict[int, str] = {}
        self.statuses: Counter[int] = Counter()

    async def fire(self, i: int) -> int:
        school = i % len(self.keys)
        kind = self.random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        if kind in ("action", "read") and not self.recent[school]:
            kind = "routine"
        self.kinds[i] = kind
        headers = {"Authorization": f"Bearer {self.keys[school]}"}
        async with self._request(kind, school, i, headers) as r:
            if r.status == 201 and kind in ("routine", "restricted"):
                self._remember(school, (await r.json())["id"])
            self.statuses[r.status] += 1
            return r.status

    def _request(self, kind: str, school: int, i: int, headers: dict[str, str]) -> Any:
        if kind == "read":
            incident = self.random.choice(self.recent[school])
            return self.http.get(f"{self.notifier}/v1/incidents/{incident}/alerts", headers=headers)
        if kind == "action":
            incident = self.random.choice(self.recent[school])
            return self.http.post(
                f"{self.ingest}/v1/incidents/{incident}/actions",
                json={"author": "S03", "description": "Spoke to parent."},
                headers=headers,
            )
        template = RESTRICTED if kind == "restricted" else (ROUTINE_C3, ROUTINE_C4)[i % 2]
        return self.http.post(
            f"{self.ingest}/v1/incidents",
            data=body_for(template, i),
            headers={**headers, "Content-Type": "application/json"},
        )

    def _remember(self, school: int, incident_id: str) -> None:
        recent = self.recent[school]
        recent.append(incident_id)
        del recent[:-200]


class Gauges:
    """Resources the stack holds right now."""

    def __init__(self, pids: dict[str, int], dsn: str, redis_url: str) -> None:
        self.pids, self.dsn, self.redis_url = pids, dsn, redis_url

    async def read(self) -> dict[str, Any]:
        conn = await asyncpg.connect(self.dsn)
        try:
            pg_conns = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            backlog = await conn.fetchval(
                "SELECT (SELECT count(*) FROM alert_events WHERE resolved_at IS NULL) + "
                "(SELECT count(*) FROM alerts WHERE state NOT IN ('sent', 'failed'))"
            )
        finally:
            await conn.close()
        client = aioredis.from_url(self.redis_url)
        try:
            redis_clients = len(await client.client_list()) - 1  # not counting us
        finally:
            await client.aclose()
        return {
            "pg_conns": pg_conns,
            "backlog": backlog,
            "redis_clients": redis_clients,
            "fds": sum(_fds(p) for p in self.pids.values()),
            **{f"rss_{name}": _rss_mb(pid) for name, pid in self.pids.items()},
        }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def interval_row(
    minute: float, day: SchoolDay, samples: list[Any], gauges: dict[str, Any]
) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = {}
    for s in samples:
        if 200 <= s.status < 300:
            by_kind.setdefault(day.kinds.get(s.index, "?"), []).append(s.latency)
    statuses = Counter(s.status for s in samples)
    ms = lambda kind, p: round(percentile(by_kind.get(kind, []), p) * 1000, 1)  # noqa: E731
    return {
        "minute": round(minute, 1),
        "requests": len(samples),
        "ok": sum(n for s, n in statuses.items() if 200 <= s < 300),
        "shed": statuses[503] + statuses[429],
        "errors": sum(
            n for s, n in statuses.items() if s == 0 or (s >= 400 and s not in (429, 503))
        ),
        "routine_p50": ms("routine", 50),
        "routine_p99": ms("routine", 99),
        "action_p99": ms("action", 99),
        "read_p99": ms("read", 99),
        **gauges,
    }


def growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Last interval minus first (the first includes warm-up, so small growth is expected)."""
    if len(rows) < 2:
        return {}
    first, last = rows[0], rows[-1]
    return {
        k: round(last[k] - first[k], 1)
        for k in GROWTH
        if isinstance(first.get(k), int | float) and isinstance(last.get(k), int | float)
    }


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        redis = redis_server(stack)
        dsn = await beacon_database(stack)
        smtp_port = free_port()
        records = Path(f"/tmp/beacon-soak-{smtp_port}.tsv")
        script(stack, "smtp_counter", ["--port", str(smtp_port), "--out", str(records)], smtp_port)
        env = beacon_env(dsn, redis.url(0), smtp_port, LOG_LEVEL=args.log_level)
        pids = {
            name: beacon_service(stack, name, env).proc.pid  # type: ignore[union-attr]
            for name in ("ingest", "worker", "notifier")
        }
        ingest = f"http://127.0.0.1:{env['INGEST_PORT']}"
        keys = [(await provision_school(ingest, roster()))[1] for _ in range(args.schools)]
        gauges = Gauges(pids, dsn, redis.url(0))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            day = SchoolDay(http, ingest, f"http://127.0.0.1:{env['NOTIFIER_PORT']}", keys)
            rows = await intervals(args, day, gauges)
        books = await final_books(dsn, day, args.drain_timeout)
    return {
        "rows": rows,
        "growth": growth(rows),
        "books": books,
        "statuses": {str(k): v for k, v in sorted(day.statuses.items())},
    }


async def intervals(
    args: argparse.Namespace, day: SchoolDay, gauges: Gauges
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    offset = 0
    print_table([], COLUMNS)
    while time.monotonic() - started < args.minutes * 60:
        run = await open_loop(args.rate, args.interval, lambda i, o=offset: day.fire(i + o))
        # open_loop numbers each run's requests from 0; the day numbers them across runs.
        samples = [replace(s, index=s.index + offset) for s in run.samples]
        offset += len(samples)
        row = interval_row((time.monotonic() - started) / 60, day, samples, await gauges.read())
        rows.append(row)
        print_table([row], COLUMNS, header=False)
    return rows


async def final_books(dsn: str, day: SchoolDay, timeout: float) -> dict[str, Any]:
    """After the load: wait for every alert to be final, then count what was stored."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while await conn.fetchval(
            "SELECT (SELECT count(*) FROM alert_events WHERE resolved_at IS NULL) + "
            "(SELECT count(*) FROM alerts WHERE state NOT IN ('sent', 'failed'))"
        ):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM incidents) AS incidents, "
            "(SELECT count(*) FROM actions) AS actions, "
            "(SELECT count(*) FROM alerts) AS alerts, "
            "(SELECT count(*) FROM alerts WHERE state = 'sent') AS sent, "
            "(SELECT count(*) FROM alerts WHERE state = 'failed') AS failed"
        )
    finally:
        await conn.close()
    return dict(row)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Soak the whole pipeline at a school-day mix.")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=20.0, help="requests per second, all kinds")
    p.add_argument("--interval", type=float, default=60.0, help="seconds per report row")
    p.add_argument("--schools", type=int, default=3)
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument("--log-level", default="INFO", help="services' LOG_LEVEL (compose: INFO)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("WARNING", service="bench")
    load_before = os.getloadavg()
    result = asyncio.run(soak(args))
    print("growth (last interval - first):", json.dumps(result["growth"]))
    print("books:", json.dumps(result["books"]), "statuses:", json.dumps(result["statuses"]))
    path = write_json(
        args.out,
        "soak",
        {
            "command": " ".join(sys.argv),
            "commit": git_commit(),
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "minutes": args.minutes,
            "rate": args.rate,
            "interval_s": args.interval,
            "mix": MIX,
            "result": result,
        },
    )
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
