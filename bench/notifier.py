"""The notifier alone against its floor, in one run: bare aiosmtplib over 10
reused connections vs the delivery engine draining N queued alerts from PostgreSQL, both into
the same kind of counting SMTP sink (bench/smtp_counter.py, its own process).

The bare side sends pre-composed bytes of a real alert email (the same size the engine sends);
the engine pays for everything it really does: claiming with leases, composing, sending over
its bounded pool, committing `sent`. Rounds alternate (bare, engine, bare, engine...) so a
shared machine's noise hits both; the best rounds and the medians are compared.

    python bench/notifier.py                  # 5,000 alerts, 5 rounds each
    python bench/notifier.py --alerts 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.report import git_commit, print_table, write_json  # noqa: E402
from bench.stack import beacon_database, beacon_env, script  # noqa: E402
from services.notifier.engine import build_engine, engine_pool  # noqa: E402
from services.notifier.message import AlertMail, Composer  # noqa: E402
from shared import runtime  # noqa: E402
from shared.config import Settings  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.world import pile_of_queued_alerts, seed_school  # noqa: E402

CONNECTIONS = 10


async def counting_sink(stack: AsyncExitStack) -> tuple[int, Path]:
    port = free_port()
    out = Path(f"/tmp/beacon-bench-notifier-{port}.tsv")
    script(stack, "smtp_counter", ["--port", str(port), "--out", str(out)], port)
    return port, out


def sample_message(settings: Settings) -> tuple[str, bytes]:
    composer = Composer(settings.smtp_from, settings.base_url)
    mail = AlertMail(
        uuid.uuid4(),
        "ada.head@school.example",
        "incident",
        1234,
        "Oakfield Primary",
        "Cause for concern / Injury/Bruise",
        "FT",
    )
    return composer.envelope_from, composer.compose(mail)


def cpu_now() -> tuple[float, float]:
    """CPU seconds so far: this process's, and the whole box's (every core, every process:
    PostgreSQL and the sink too), from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return time.process_time(), busy / os.sysconf("SC_CLK_TCK")


def cpu_since(start: tuple[float, float], count: int) -> tuple[float, float]:
    """µs of CPU per email since `start`: this process's, the box's."""
    now = cpu_now()
    return (now[0] - start[0]) / count * 1e6, (now[1] - start[1]) / count * 1e6


async def bare_round(
    port: int, sender: str, data: bytes, count: int
) -> tuple[float, tuple[float, float]]:
    """emails/s and CPU per email (`cpu_since`): `count` sends over CONNECTIONS reused
    connections, nothing else."""
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(CONNECTIONS)]
    await asyncio.gather(*(c.connect() for c in clients))
    per_client = count // CONNECTIONS

    async def run(client: aiosmtplib.SMTP) -> None:
        for _ in range(per_client):
            await client.sendmail(sender, ["ada.head@school.example"], data)

    sent = per_client * CONNECTIONS
    started, cpu = time.perf_counter(), cpu_now()
    await asyncio.gather(*(run(c) for c in clients))
    elapsed, used = time.perf_counter() - started, cpu_since(cpu, sent)
    await asyncio.gather(*(c.quit() for c in clients))
    return sent / elapsed, used


async def engine_round(
    settings: Settings, pool: asyncpg.Pool, count: int
) -> tuple[float, tuple[float, float]]:
    """emails/s and CPU per email (`cpu_since`) while the engine drains `count` queued alerts
    (claim, compose, send, commit); the seeding before it is neither timed nor counted."""
    async with pool.acquire() as conn:
        school = await seed_school(conn, f"Bench {uuid.uuid4().hex[:6]}")
        await pile_of_queued_alerts(conn, school, count)
        await conn.execute("ANALYZE alerts")
    engine = build_engine(settings, pool)
    async with engine.running():
        started, cpu = time.perf_counter(), cpu_now()
        assert await engine.deliver_due(wait=None)
        elapsed, used = time.perf_counter() - started, cpu_since(cpu, count)
    sent = await pool.fetchval("SELECT count(*) FROM alerts WHERE state = 'sent'")
    await pool.execute("DELETE FROM alerts")  # the next round starts from an empty queue
    if sent != count:
        raise RuntimeError(f"engine sent {sent} of {count}")
    return count / elapsed, used


async def main(alerts: int, rounds: int) -> dict[str, Any]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    async with AsyncExitStack() as stack:
        database_url = await beacon_database(stack)
        port, _ = await counting_sink(stack)
        env = beacon_env(
            database_url, "redis://127.0.0.1:1/0", port, SMTP_CONNECTIONS=str(CONNECTIONS)
        )
        settings = Settings.from_env(env)
        pool = await engine_pool(settings)  # the engine's pool as `beacon notifier` opens it
        stack.push_async_callback(pool.close)
        sender, data = sample_message(settings)
        bare, engine, rows = [], [], []
        for n in range(rounds):
            # CPU per email: this process's, which the noise of a shared machine moves much
            # less than emails/s, and the box's, which adds what PostgreSQL and the sink did.
            rate, (bare_cpu, bare_box) = await bare_round(port, sender, data, alerts)
            bare.append(rate)
            rate, (engine_cpu, engine_box) = await engine_round(settings, pool, alerts)
            engine.append(rate)
            rows.append(
                {
                    "round": n + 1,
                    "bare/s": bare[-1],
                    "engine/s": engine[-1],
                    "ratio": engine[-1] / bare[-1],
                    "bare_cpu_us": bare_cpu,
                    "engine_cpu_us": engine_cpu,
                    "bare_box_us": bare_box,
                    "engine_box_us": engine_box,
                }
            )
            print_table(rows[-1:], list(rows[-1]), header=n == 0)
    result = {
        "alerts": alerts,
        "connections": CONNECTIONS,
        "message_bytes": len(data),
        "bare_per_s": max(bare),
        "engine_per_s": max(engine),
        "ratio": max(engine) / max(bare),
        "median_ratio": statistics.median(engine) / statistics.median(bare),
        "rounds": rows,
        "commit": git_commit(),
    }
    print(
        f"best: bare {result['bare_per_s']:.0f}/s, engine {result['engine_per_s']:.0f}/s, "
        f"ratio {result['ratio']:.2f}; medians ratio {result['median_ratio']:.2f} "
        "(goal >= 0.80)"
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    runtime.use_uvloop()  # both sides on the loop `beacon notifier` runs on
    write_json(args.out, "notifier", asyncio.run(main(args.alerts, args.rounds)))
