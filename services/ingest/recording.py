"""Group commit for POST /v1/incidents.

Each recording takes its school's next reference from one counter row, which stays locked
until the commit, so one school's recordings run one after another whatever the pool size:
each paid a round trip and a commit (a WAL flush) with the row locked. Here the recordings
of one school that arrive while its last batch is being written go together as the next
batch: one pipelined round trip and one commit for all. Every request is still answered only
after the commit that stored its incident.

Should a batch fail on something one recording did, each is retried alone, so a request gets
its own outcome and never another's. PostgreSQL being away fails the batch for all (503).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.ingest import door
from services.ingest.door import QueueDelay
from services.ingest.metrics import IngestMetrics
from services.ingest.records import incidents as queries
from shared import database
from shared.coalesce import Coalescer

# Enough to amortise the round trip and the commit; small enough that one batch holds its
# school's counter row for a few milliseconds (about 0.4 ms of PostgreSQL time each, here).
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class Target:
    """Where a batch goes: the lane's pool and standing-queue test, and one school."""

    pool: asyncpg.Pool
    delay: QueueDelay | None
    school_id: uuid.UUID


class Recorder:
    def __init__(self, acquire_timeout: float, metrics: IngestMetrics) -> None:
        self._acquire_timeout = acquire_timeout
        self._metrics = metrics
        self._batches: Coalescer[Target, queries.Recording, asyncpg.Record] = Coalescer(
            self._write, max_batch=MAX_BATCH
        )

    async def record(self, target: Target, arguments: queries.Recording) -> asyncpg.Record:
        """The recording's verdict row, once the commit that stored it (if it did) is done."""
        return await self._batches.submit(target, arguments)

    async def _write(
        self, target: Target, batch: Sequence[queries.Recording]
    ) -> Sequence[asyncpg.Record | Exception]:
        async with door.connection(
            target.pool, self._acquire_timeout, self._metrics, target.delay
        ) as conn:
            self._metrics.recording_batch.observe(len(batch))
            try:
                return await queries.record_incidents(conn, batch)
            except database.UNAVAILABLE:  # some are PostgresErrors too: the server, not a row
                raise
            except asyncpg.PostgresError:
                if len(batch) == 1:
                    raise
            return [await _alone(conn, arguments) for arguments in batch]


async def _alone(
    conn: database.Connection, arguments: queries.Recording
) -> asyncpg.Record | Exception:
    try:
        return await queries.record_incident(conn, arguments)
    except database.UNAVAILABLE:
        raise
    except asyncpg.PostgresError as error:
        return error
