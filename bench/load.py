"""Open-loop load: requests leave at a fixed arrival rate whatever the server does.

Request i is due at t0 + i/rate and is fired as its own task when due, without waiting for
earlier ones. Latency runs from the *due* time, so a slow server (or a client that fell
behind) shows up in the figures instead of quietly lowering the offered rate, which is what a
closed loop ("send the next when the last returns") does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# One request: given its index, send it and return the HTTP status (0: no response).
Fire = Callable[[int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Sample:
    index: int
    due: float  # time.monotonic() at which the request was due
    lag: float  # how late the client started it (client saturation shows here)
    latency: float  # response time measured from `due`
    status: int  # 0: connection error or timeout


@dataclass
class Run:
    rate: float
    duration: float
    samples: list[Sample] = field(default_factory=list)
    elapsed: float = 0.0  # first due time to last response


async def _timed(i: int, due: float, fire: Fire) -> Sample:
    start = time.monotonic()
    try:
        status = await fire(i)
    except (aiohttp.ClientError, TimeoutError, OSError):
        status = 0  # counted as "no response", never fatal to the run
    return Sample(i, due, start - due, time.monotonic() - due, status)


async def open_loop(rate: float, duration: float, fire: Fire) -> Run:
    """Fire `rate * duration` requests on schedule; return when every one has answered."""
    total = max(1, round(rate * duration))
    t0 = time.monotonic() + 0.05
    tasks: list[asyncio.Task[Sample]] = []
    for i in range(total):
        due = t0 + i / rate
        wait = due - time.monotonic()
        if wait > 0.001:  # launch everything already due in one go; sleep only when ahead
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(_timed(i, due, fire)))
    samples = list(await asyncio.gather(*tasks))
    return Run(rate, duration, samples, time.monotonic() - t0)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summarize(run: Run, ok: int = 201) -> dict[str, Any]:
    statuses = [s.status for s in run.samples]
    n = len(statuses)
    good = [s.latency for s in run.samples if s.status == ok]
    shed = sum(1 for s in statuses if s in (503, 429))
    return {
        "offered_per_s": run.rate,
        "sent": n,
        "accepted": len(good),
        "accepted_per_s": len(good) / max(run.duration, run.elapsed),
        "p50_ms": percentile(good, 50) * 1000,
        "p99_ms": percentile(good, 99) * 1000,
        "max_ms": max(s.latency for s in run.samples) * 1000,
        "shed_share": shed / n,
        "other_5xx": sum(1 for s in statuses if s >= 500 and s != 503),
        "other_4xx": sum(1 for s in statuses if 400 <= s < 500 and s != 429),
        "no_response": statuses.count(0),
        "max_from_send_ms": max(s.latency - s.lag for s in run.samples) * 1000,
        "client_lag_p99_ms": percentile([s.lag for s in run.samples], 99) * 1000,
    }
