"""How long one notifier claim takes with a deep backlog: 100 alerts claimed from 10,000 queued
in one school plus 100 in each of five others (the backlog tests/notifier/test_claims.py checks
is read through the indexes). A figure to watch, not a test: about 7-10 ms on an idle 2-core
box when it was last a test's bound.

    python bench/claims.py                  # 10 claims of 100
    python bench/claims.py --claims 30 --backlog 50000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.report import git_commit, print_table, write_json  # noqa: E402
from bench.stack import BENCH, beacon_database  # noqa: E402
from services.notifier import claims  # noqa: E402
from tests.support.world import pile_of_queued_alerts, seed_school  # noqa: E402

LEASE = 30.0
BATCH = 100


async def backlog(pool: asyncpg.Pool, deep: int) -> int:
    async with pool.acquire() as conn:
        await pile_of_queued_alerts(conn, await seed_school(conn), deep)
        for n in range(5):
            await pile_of_queued_alerts(conn, await seed_school(conn, f"School {n}"), 100)
        await conn.execute("ANALYZE")
    return deep + 500


async def main(count: int, deep: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(await beacon_database(stack), min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        queued = await backlog(pool, deep)
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            claimed = len(await claims.claim_due(pool, BATCH, LEASE))
            timings.append((time.perf_counter() - started) * 1000)
            if claimed != BATCH:
                raise RuntimeError(f"claimed {claimed} of {BATCH}")
    row = {
        "queued": queued,
        "claims": count,
        "median_ms": round(statistics.median(timings), 2),
        "max_ms": round(max(timings), 2),
    }
    print_table([row], list(row))
    return {"commit": git_commit(), "rows": [row]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=10_000)
    args = parser.parse_args()
    result = asyncio.run(main(args.claims, args.backlog))
    print(write_json(BENCH / "results", "claims", result))
