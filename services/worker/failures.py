"""Which failures are transient (PostgreSQL or Redis away for a while) and how long to wait.

A transient failure in a job becomes `arq.Retry` on this backoff; anything else is a bug and
fails the job, after which the outbox relay hands the event over again later.
"""

from __future__ import annotations

import random

import asyncpg
import redis.exceptions

from shared import database

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    *database.UNAVAILABLE,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    # A connection dropped while arq's job-start transaction watched its keys (seen when a
    # Redis primary fails over): transient, never a reason for the worker to exit.
    redis.exceptions.WatchError,
)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential with full jitter: attempt 1 waits up to `base`, doubling up to `cap`."""
    return random.uniform(0.1, min(cap, base * 2 ** max(attempt - 1, 0)))
