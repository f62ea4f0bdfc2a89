"""Staff pages under a school's full weight, while the API takes incidents.

A school of 1,000 pupils with 100,000 incidents, leaders with a head's 20,000 alerts each and a
pupil whose chronology has 500 entries; `beacon ingest` as a process; 20 elevated staff
sessions each asking in turn for "My alerts", an incident page and the 500-entry chronology,
with `--think` seconds between pages (1 s by default, several times faster than people read;
0: as fast as answers come, which measures how many pages one process serves), while an
open-loop API client posts incidents at `--api-rate` (default 200/s). Prints p50/p99 per page
and the API's figures; JSON in bench/results/.

    python3 bench/pages.py                      # 30 s of load
    python3 bench/pages.py --duration 10 --api-rate 100
    python3 bench/pages.py --think 0            # closed loop: pages as fast as they come
    python3 bench/pages.py --quick              # smoke run: small school, 3 s

The school is seeded with set-based SQL (the shape ingest stores; 100,000 incidents through the
API would take minutes before measuring anything) and the roster through the admin API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import load  # noqa: E402
from bench.report import git_commit, print_table, write_json  # noqa: E402
from bench.stack import (  # noqa: E402
    beacon_database,
    beacon_env,
    beacon_service,
    provision_school,
    redis_server,
)
from shared.auth import accounts, totp  # noqa: E402
from shared.auth.passwords import hash_password  # noqa: E402
from shared.auth.totp import SecretBox, derive_key  # noqa: E402
from tests.support.databases import ADMIN_URL, create_database  # noqa: E402

PASSWORD = "Kettle-Drum-93!"
LEADERS = 20
SECRET_KEY = "bench-secret-key-0123456789abcdef-0123"
SETTLE_S = 2.0
SLOWEST: list[tuple[float, float, str]] = []  # (seconds, started, page) of every answer
RESULTS = Path(__file__).resolve().parent / "results"


def school_roster(pupils: int) -> dict[str, Any]:
    classes = max(1, pupils // 25)
    # Twenty leaders, each with a head's load: every authenticator code works once, so each
    # session elevates with its own device.
    staff = [
        {
            "id": f"H{n:02d}",
            "email": f"head{n}@bench.example",
            "first_name": "Hana",
            "last_name": f"Head{n}",
            "initials": "HH",
            "roles": ["head", "slt"],
        }
        for n in range(LEADERS)
    ] + [
        {
            "id": f"T{c:03d}",
            "email": f"t{c}@bench.example",
            "first_name": "Teacher",
            "last_name": f"No{c}",
            "initials": "TN",
            "roles": ["teacher"],
        }
        for c in range(classes)
    ]
    return {
        "staff": staff,
        "classes": [
            {"id": f"C{c:03d}", "name": f"Class {c}", "teachers": [f"T{c:03d}"]}
            for c in range(classes)
        ],
        "pupils": [
            {
                "id": f"P{p:04d}",
                "first_name": f"Pupil{p}",
                "last_name": f"Family{p % 97}",
                "date_of_birth": "2016-01-01",
                "classes": [f"C{p % classes:03d}"],
            }
            for p in range(pupils)
        ],
    }


_INCIDENTS = """
WITH p AS (SELECT array_agg(id ORDER BY external_id) AS ids FROM pupils WHERE school_id = $1),
a AS (SELECT array_agg(id ORDER BY external_id) AS ids FROM staff WHERE school_id = $1
      AND 'teacher' = ANY(roles)),
made AS (
    INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, recorded_at,
                           description, restricted)
    SELECT $1,
           -- the first pupil gets `$3` incidents, the rest share the others
           CASE WHEN g <= $3 THEN p.ids[1] ELSE p.ids[2 + (g % (array_length(p.ids, 1) - 1))] END,
           a.ids[1 + (g % array_length(a.ids, 1))],
           now() - make_interval(mins => $2 - g), now() - make_interval(mins => $2 - g),
           'Bench write-up number ' || g || ': noticed at break, spoke to the pupil.', false
    FROM generate_series(1, $2) g, p, a
    RETURNING id)
INSERT INTO incident_categories (school_id, incident_id, category_slug)
SELECT $1, id, 'behaviour/negative-behaviour' FROM made
"""

_ACTIONS = """
INSERT INTO actions (school_id, incident_id, author_id, description)
SELECT $1, i.id, i.author_id, 'Spoke to parent at pick-up.'
FROM (SELECT id, author_id FROM incidents WHERE school_id = $1 AND pupil_id = $2
      ORDER BY occurred_at LIMIT $3) i
"""

_HEAD_ALERTS = """
WITH newest AS (
    SELECT id FROM incidents WHERE school_id = $1 ORDER BY recorded_at DESC LIMIT $3),
events AS (
    INSERT INTO alert_events (school_id, kind, incident_id, resolved_at)
    SELECT $1, 'incident', id, now() FROM newest RETURNING id, incident_id)
INSERT INTO alerts (school_id, event_id, incident_id, recipient_id, state, sent_at, queued_at,
                    read_at)
SELECT $1, e.id, e.incident_id, h, 'sent', now(), now() - make_interval(secs => e.id % 86400),
       CASE WHEN e.id % 3 = 0 THEN NULL ELSE now() END
FROM events e, unnest($2::uuid[]) h
"""


async def seed(
    dsn: str, school_id: str, incidents: int, alerts: int, chronology: int
) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        school = await conn.fetchval("SELECT $1::uuid", school_id)
        await conn.execute(_INCIDENTS, school, incidents, chronology - chronology // 10)
        first = await conn.fetchval(
            "SELECT id FROM pupils WHERE school_id = $1 ORDER BY external_id LIMIT 1", school
        )
        await conn.execute(_ACTIONS, school, first, chronology // 10)
        heads = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM staff WHERE school_id = $1 AND 'head' = ANY(roles) "
                "ORDER BY external_id",
                school,
            )
        ]
        await conn.execute(_HEAD_ALERTS, school, heads, alerts)
        await conn.execute("ANALYZE")
        stored = hash_password(PASSWORD)
        box = SecretBox(derive_key(SECRET_KEY))
        secrets = []
        for head in heads:
            await accounts.set_password_hash(conn, school, head, stored)
            enrolment = await totp.start_enrolment(conn, box, school, head)
            code = pyotp.TOTP(enrolment.secret).at(time.time() - 30)  # leave "now" unused
            await totp.confirm_enrolment(conn, box, school, head, code, "bench")
            secrets.append(enrolment.secret)
        incident = await conn.fetchval(
            "SELECT incident_id FROM alerts WHERE recipient_id = $1 LIMIT 1", heads[0]
        )
        pupil = await conn.fetchval("SELECT external_id FROM pupils WHERE id = $1", first)
    finally:
        await conn.close()
    return {"secrets": secrets, "incident": str(incident), "pupil": pupil}


class Staff:
    """One signed-in, elevated leader in their own HTTP session."""

    def __init__(self, url: str) -> None:
        self.http = aiohttp.ClientSession(url, cookie_jar=aiohttp.DummyCookieJar())
        self.cookie = ""
        self.csrf = ""

    async def sign_in(self, email: str, secret: str) -> None:
        async with self.http.post("/v1/session", json={"email": email, "password": PASSWORD}) as r:
            assert r.status == 201, (email, await r.text())
            self.cookie, self.csrf = (
                r.cookies["beacon_session"].value,
                (await r.json())["csrf_token"],
            )
        code = pyotp.TOTP(secret).now()
        async with self.http.post(
            "/v1/session/elevate", json={"code": code}, headers=self._headers(csrf=True)
        ) as r:
            assert r.status == 200, await r.text()
            self.cookie, self.csrf = (
                r.cookies["beacon_session"].value,
                (await r.json())["csrf_token"],
            )

    def _headers(self, csrf: bool = False) -> dict[str, str]:
        headers = {"Cookie": f"beacon_session={self.cookie}"}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return headers

    async def get(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        async with self.http.get(path, headers=self._headers(), allow_redirects=False) as r:
            await r.read()
            return r.status, time.perf_counter() - started


async def browse(
    staff: Staff,
    pages: dict[str, str],
    until: float,
    think: float,
    seen: dict[str, list[float]],
    statuses: dict[str, dict[int, int]],
) -> None:
    """One person: a page, then `think` seconds on average reading it (uniform, 0.5x to 1.5x,
    so twenty people drift apart), then the next; 0 asks again as soon as an answer comes. A
    503 is read as a person would: wait its Retry-After, then ask again."""
    names = list(pages)
    rng = random.Random(id(staff))
    await asyncio.sleep(rng.uniform(0, think))
    i = 0
    while time.monotonic() < until:
        name = names[i % len(names)]
        status, seconds = await staff.get(pages[name])
        statuses[name][status] = statuses[name].get(status, 0) + 1
        if status == 200:
            seen[name].append(seconds)
            SLOWEST.append((seconds, time.monotonic() - seconds, name))
        i += 1
        pause = rng.uniform(0.5 * think, 1.5 * think) if think else 0.0
        await asyncio.sleep(max(pause, 1.0) if status == 503 else pause)


async def api_in_own_process(url: str, key: str, rate: float, duration: float) -> Any:
    """The API's client in a process of its own, so its bursts never delay a page's timing."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, _api_load_process, url, key, rate, duration
        )


def _api_load_process(url: str, key: str, rate: float, duration: float) -> dict[str, Any]:
    return asyncio.run(api_load(url, key, rate, duration))


async def api_load(url: str, key: str, rate: float, duration: float) -> dict[str, Any]:
    body = json.dumps(
        {
            "author": "T000",
            "pupil": "P0002",
            "occurred_at": "2026-11-27T10:15:00Z",
            "description": "Posted by the MIS during the page benchmark.",
            "categories": ["behaviour/negative-behaviour"],
        }
    ).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(url) as http:

        async def fire(i: int) -> int:
            async with http.post("/v1/incidents", data=body, headers=headers) as r:
                await r.read()
                return r.status

        return load.summarize(await load.open_loop(rate, duration, fire))


def profile(pid: int, seconds: float, out: str) -> subprocess.Popen[bytes]:
    """py-spy samples ingest for the load's duration: collapsed stacks, one per line."""
    return subprocess.Popen(  # noqa: S603 - our own command line
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            out,
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        kept = json.loads(Path(args.reuse).read_text()) if args.reuse else None
        if kept is not None:
            dsn = kept["dsn"]
        elif args.keep:
            dsn = await create_database(ADMIN_URL)  # left for --reuse: drop it yourself
        else:
            dsn = await beacon_database(stack)
        redis = redis_server(stack)
        env = beacon_env(
            dsn,
            redis.url(),
            BEACON_SECRET_KEY=SECRET_KEY,
            API_KEY_RATE="0",
            BEACON_SESSION_IDLE_SECONDS="3600",
            **dict(kv.split("=", 1) for kv in args.env),
        )
        ingest = beacon_service(stack, "ingest", env)
        url = f"http://127.0.0.1:{env['INGEST_PORT']}"
        started = time.monotonic()
        if kept is not None:
            key, facts = kept["key"], kept["facts"]
        else:
            school_id, key = await provision_school(url, school_roster(args.pupils))
            facts = await seed(dsn, school_id, args.incidents, args.alerts, args.chronology)
        if args.keep:
            Path(args.keep).write_text(json.dumps({"dsn": dsn, "key": key, "facts": facts}))
        seeded_s = time.monotonic() - started
        staff = [Staff(url) for _ in range(args.staff)]
        for n, s in enumerate(staff):
            await s.sign_in(f"head{n}@bench.example", facts["secrets"][n])
        pages = {
            "my_alerts": "/",
            "incident": f"/incidents/{facts['incident']}",
            "chronology": f"/pupils/{facts['pupil']}",
        }
        for s in staff:  # warm: each page's templates compiled, each connection open
            for path in pages.values():
                await s.get(path)
        phases = []
        runs = [(rate, think) for rate in args.api_rate for think in args.think]
        for n, (rate, think) in enumerate(runs):
            profile_to = f"{args.profile}.{n}" if args.profile else None
            assert ingest.proc is not None
            pid = ingest.proc.pid
            phases.append(await measure(url, key, staff, pages, rate, think, args, pid, profile_to))
        for s in staff:
            await s.http.close()
    return {"phases": phases, "seeded_s": seeded_s}


async def measure(
    url: str,
    key: str,
    staff: list[Staff],
    pages: dict[str, str],
    api_rate: float,
    think: float,
    args: argparse.Namespace,
    pid: int,
    profile_to: str | None,
) -> dict[str, Any]:
    """One phase: every person browsing with `think` while the API load runs."""
    seen: dict[str, list[float]] = {name: [] for name in pages}
    statuses: dict[str, dict[int, int]] = {name: {} for name in pages}
    # The API load settles first (its client opens its connections in the first second), so
    # the pages are measured against a steady 200/s, as a school's day has it.
    api_task = asyncio.create_task(
        api_in_own_process(url, key, api_rate, SETTLE_S + args.duration)
        if api_rate
        else asyncio.sleep(0, {})
    )
    await asyncio.sleep(SETTLE_S if api_rate else 0)
    until = time.monotonic() + args.duration
    spy = profile(pid, args.duration, profile_to) if profile_to else None
    await asyncio.gather(*(browse(s, pages, until, think, seen, statuses) for s in staff))
    api = await api_task
    if spy is not None:
        spy.wait()
    rows = [
        {
            "page": name,
            "answers": len(v),
            "p50_ms": load.percentile(v, 50) * 1000,
            "p99_ms": load.percentile(v, 99) * 1000,
            "max_ms": max(v, default=0) * 1000,
            "statuses": json.dumps(statuses[name]),
        }
        for name, v in seen.items()
    ]
    answered = sum(len(v) for v in seen.values())
    t0 = until - args.duration
    slowest = [
        {"ms": round(ms * 1000, 1), "at_s": round(at - t0, 2), "page": page}
        for ms, at, page in sorted(SLOWEST, reverse=True)[:10]
    ]
    SLOWEST.clear()
    per_s = answered / args.duration
    return {
        "api_rate": api_rate,
        "think_s": think,
        "pages": rows,
        "pages_per_s": per_s,
        "api": api,
        "slowest": slowest,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument(
        "--api-rate",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[200.0],
        help="incidents/s offered to the API; several (200,0) run in turn",
    )
    p.add_argument(
        "--think",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[1.0],
        help="seconds a person spends on a page before the next, on average (0: none); "
        "several (1,0) run one after another on the same school",
    )
    p.add_argument("--staff", type=int, default=LEADERS, help=f"at most {LEADERS}")
    p.add_argument("--pupils", type=int, default=1000)
    p.add_argument("--incidents", type=int, default=100_000)
    p.add_argument("--alerts", type=int, default=20_000)
    p.add_argument("--chronology", type=int, default=500)
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for ingest (e.g. INGEST_STAFF_DB_POOL_SIZE=6); repeatable",
    )
    p.add_argument("--keep", metavar="FILE", help="keep the seeded database, described in FILE")
    p.add_argument("--reuse", metavar="FILE", help="measure the database a --keep run left")
    p.add_argument("--profile", metavar="FILE", help="py-spy's collapsed stacks of ingest")
    p.add_argument("--quick", action="store_true", help="smoke run: a small school for 3 s")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.api_rate, args.staff = 3.0, [20.0], 2
        args.pupils, args.incidents, args.alerts, args.chronology = 50, 2_000, 500, 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    result = asyncio.run(run(args))
    print(f"seeded in {result['seeded_s']:.1f} s")
    for phase in result["phases"]:
        print(
            f"\n{args.staff} staff, think {phase['think_s']:g} s, for {args.duration:.0f} s, while "
            f"the API is offered {phase['api_rate']:.0f} incidents/s: "
            f"{phase['pages_per_s']:.1f} pages/s answered"
        )
        print_table(phase["pages"], ["page", "answers", "p50_ms", "p99_ms", "max_ms", "statuses"])
        print_table(
            [phase["api"]],
            ["offered_per_s", "accepted_per_s", "p50_ms", "p99_ms", "shed_share", "other_5xx"],
        )
    result.update(
        command=" ".join(sys.argv),
        commit=git_commit(),
        cpus=os.cpu_count(),
        load_before=load_before,
        load_after=os.getloadavg(),
    )
    print(f"results: {write_json(RESULTS, 'pages', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
