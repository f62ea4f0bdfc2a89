"""How long and how hard the fault suite runs: BEACON_FAULT_SCALE=ci (default: every fault,
short, for CI) or full (the durations the reliability goals name: Redis away 20 s, mail
server down 30 s, a 30 s overload). BEACON_OVERLOAD_RATE overrides the overload's incidents/s."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    rate: float  # background load, incidents/s
    settle: float  # seconds of load before and after each fault
    worker_kills: int
    kill_every: float  # seconds between kills
    notifier_kills: int
    ingest_kills: int
    redis_outage: float  # seconds Redis is away (then back, empty)
    smtp_down: float  # seconds the mail server refuses connections
    smtp_refusing: float  # then seconds it answers 421/451
    pg_outage: float  # seconds PostgreSQL is stopped, each time
    pg_restarts: int  # first a clean (fast) stop, then crash-like (immediate) ones
    overload_rate: float  # incidents/s in the burst (3 schools share it)
    overload_seconds: float
    probe_seconds: float  # gentle load before and after the burst
    drain_timeout: float  # seconds to wait for every alert after the load


CI = Scale(
    "ci",
    rate=20,
    settle=2,
    worker_kills=3,
    kill_every=2.5,
    notifier_kills=2,
    ingest_kills=2,
    redis_outage=4,
    smtp_down=4,
    smtp_refusing=4,
    pg_outage=3,
    pg_restarts=2,
    overload_rate=300,
    overload_seconds=5,
    probe_seconds=2,
    drain_timeout=120,
)
FULL = Scale(
    "full",
    rate=40,
    settle=5,
    worker_kills=10,
    kill_every=3,
    notifier_kills=5,
    ingest_kills=5,
    redis_outage=20,
    smtp_down=30,
    smtp_refusing=20,
    pg_outage=15,
    pg_restarts=2,
    overload_rate=300,
    overload_seconds=30,
    probe_seconds=5,
    drain_timeout=400,
)


def from_env() -> Scale:
    name = os.environ.get("BEACON_FAULT_SCALE", "ci").strip().lower() or "ci"
    scales = {"ci": CI, "full": FULL}
    if name not in scales:
        raise ValueError(f"BEACON_FAULT_SCALE must be ci or full, got {name!r}")
    scale = scales[name]
    if rate := os.environ.get("BEACON_OVERLOAD_RATE"):
        scale = replace(scale, overload_rate=float(rate))
    return scale
