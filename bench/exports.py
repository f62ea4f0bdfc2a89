"""How long the worker takes to make a 500-entry case-conference chronology PDF: the export
job's own path (load the entries, build the HTML, lay it out, write the tagged PDF) on a real
database seeded through ingest's recording statements. A figure, not a test; the goal is under
10 s on this 2-core box. `--screenshots` also writes docs/screenshots/chronology-pdf.png and
governors-pdf.png (pdftoppm, from poppler-utils) from a small sample school.

    python bench/exports.py                 # 500 entries, 3 renders
    python bench/exports.py --entries 1000 --runs 1
    python bench/exports.py --screenshots
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.report import git_commit, print_table, write_json  # noqa: E402
from bench.stack import BENCH, beacon_database  # noqa: E402
from services.worker.exports import jobs  # noqa: E402
from tests.support.world import RESTRICTED, record_action, record_incident, seed_school  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
CATEGORIES = [
    ["behaviour/negative-behaviour"],
    ["cause-for-concern/injury-bruise"],
    ["parent-contact/phone-call"],
    [RESTRICTED],
    ["cause-for-concern/mental-health", "sen/observation"],
]
WRITE_UP = (
    "Reported at morning register that they had not slept well and were upset about an "
    "argument at home. Seemed withdrawn during the first lesson; spoke to the class teacher "
    "who agreed to keep an eye on them at break and lunch."
)
AGENCIES = [[], [], ["Children's social care"], [], ["School nurse", "CAMHS"]]


async def seed(pool: asyncpg.Pool, entries: int, days: int = 730, pupils: int = 1) -> Any:
    """A school whose pupils (P0001 first) have `entries` incidents spread over the last `days`
    days, two in three with an action; returns the school."""
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=days)
    step = (now - start) / (entries + 1)
    async with pool.acquire() as conn:
        school = await seed_school(conn)
        for n in range(entries):
            categories = CATEGORIES[n % 5]
            author = "S04" if RESTRICTED in categories else ("S06", "S07")[n % 2]
            incident = await record_incident(
                conn,
                school,
                author,
                f"P000{n % pupils + 1}",
                categories,
                description=f"{WRITE_UP} (entry {n + 1})",
                occurred_at=start + step * (n + 1),
                agencies=AGENCIES[n % 5],
            )
            if n % 3:
                await record_action(
                    conn,
                    school,
                    incident.id,
                    "S04",
                    "Spoke to parent by phone; agreed to meet on Friday.",
                )
    return school


async def chronology_export(pool: asyncpg.Pool, school: Any, format: str = "pdf") -> asyncpg.Record:
    """An export row as ingest records it: every incident of P0001, in order."""
    async with pool.acquire() as conn:
        ids = await conn.fetch(
            "SELECT id FROM incidents WHERE pupil_id = $1 ORDER BY occurred_at",
            school.pupils["P0001"],
        )
        params = {
            "from": None,
            "to": None,
            "categories": [],
            "picked": False,
            "staff_names": True,
            "incidents": [str(r["id"]) for r in ids],
        }
        return await _insert(conn, school, "chronology", school.pupils["P0001"], params, format)


async def report_export(pool: asyncpg.Pool, school: Any, kind: str) -> asyncpg.Record:
    today = dt.date.today()
    params = {"from": (today - dt.timedelta(days=365)).isoformat(), "to": today.isoformat()}
    async with pool.acquire() as conn:
        return await _insert(conn, school, kind, None, params, "pdf")


async def _insert(
    conn: Any, school: Any, kind: str, pupil: Any, params: dict[str, Any], format: str
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO exports (school_id, requested_by, kind, pupil_id, params, format, state)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, 'running') RETURNING *""",
        school.id,
        school.staff["S04"],
        kind,
        pupil,
        json.dumps(params),
        format,
    )


async def timed(pool: asyncpg.Pool, export: asyncpg.Record) -> tuple[float, float, bytes]:
    """Wall-clock and CPU seconds (this process, every thread): on a shared, busy box the CPU
    figure is the one that says what the render costs."""
    began, cpu = time.perf_counter(), time.process_time()
    made = await jobs.make(pool, export)
    return time.perf_counter() - began, time.process_time() - cpu, made.data


def page_count(pdf: bytes) -> int:
    import io

    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def screenshot(pdf: bytes, name: str) -> Path:
    """The first page as a PNG, by pdftoppm (Debian's poppler-utils)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "export.pdf"
        source.write_bytes(pdf)
        prefix = SCREENSHOTS / name
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(source),
                str(prefix),
            ],
            check=True,
        )
    return prefix.with_suffix(".png")


async def main(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(await beacon_database(stack), min_size=1, max_size=4)
        stack.push_async_callback(pool.close)
        if args.screenshots:
            await screenshots(pool)
            return
        school = await seed(pool, args.entries)
        rows = []
        for run in range(args.runs):
            seconds, cpu, pdf = await timed(pool, await chronology_export(pool, school))
            rows.append(
                {
                    "run": run + 1,
                    "entries": args.entries,
                    "pages": page_count(pdf),
                    "seconds": round(seconds, 2),
                    "cpu": round(cpu, 2),
                    "kib": len(pdf) // 1024,
                }
            )
        print_table(rows, ["run", "entries", "pages", "seconds", "cpu", "kib"])
        median = statistics.median(r["seconds"] for r in rows)
        cpu_median = statistics.median(r["cpu"] for r in rows)
        load = os.getloadavg()[0]
        print(
            f"median {median:.2f} s wall, {cpu_median:.2f} s CPU for {args.entries} entries "
            f"(goal: under 10 s; load average {load:.1f} on {os.cpu_count()} cores)"
        )
        path = write_json(
            BENCH / "results",
            "exports",
            {"commit": git_commit(), "runs": rows, "median_seconds": median, "load": load},
        )
        print(f"written {path}")


async def screenshots(pool: asyncpg.Pool) -> None:
    school = await seed(pool, 24, days=60)
    *_, pdf = await timed(pool, await chronology_export(pool, school))
    print(screenshot(pdf, "chronology-pdf"))
    school = await seed(pool, 150, days=330, pupils=3)
    *_, pdf = await timed(pool, await report_export(pool, school, "governors"))
    print(screenshot(pdf, "governors-pdf"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshots", action="store_true")
    asyncio.run(main(parser.parse_args()))
