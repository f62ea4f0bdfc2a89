"""The exports table as the worker moves it: every change a guarded UPDATE (state checked in
the WHERE clause), so two runs of the same job, or a job and the sweep, cannot both win."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from shared.database import Connection

STATEMENT_TIMEOUT = 10.0

# A queued export, or a running one whose worker died (its lease ran out), not out of tries.
_CLAIM = """
UPDATE exports SET state = 'running', attempts = attempts + 1, progress = 5, error = NULL,
                   started_at = coalesce(started_at, now()),
                   lease_until = now() + make_interval(secs => $2)
WHERE id = $1 AND attempts < $3
  AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
RETURNING id, school_id, requested_by, kind, pupil_id, params, format, created_at"""

_PROGRESS = """
UPDATE exports SET progress = greatest(progress, $2)
WHERE id = $1 AND state = 'running'"""

_FINISH = """
UPDATE exports SET state = 'done', progress = 100, finished_at = now(), lease_until = NULL,
                   expires_at = now() + make_interval(days => $2),
                   filename = $3, content_type = $4, size_bytes = $5, sha256 = $6,
                   data = $7, stored_path = $8
WHERE id = $1 AND state = 'running'
RETURNING finished_at"""

_RELEASE = """
UPDATE exports SET state = 'queued', lease_until = NULL
WHERE id = $1 AND state = 'running'"""

_FAIL = """
UPDATE exports SET state = 'failed', error = $2, finished_at = now(), lease_until = NULL
WHERE id = $1 AND state IN ('queued', 'running')"""


@dataclass(frozen=True, slots=True)
class Made:
    """A rendered export, before it is stored."""

    filename: str
    content_type: str
    data: bytes


class Vanished(LookupError):
    """Something an export is about (its pupil, its requester) is no longer there."""


def one(row: asyncpg.Record | None, what: str) -> asyncpg.Record:
    if row is None:
        raise Vanished(what)
    return row


async def claim(
    conn: Connection, export_id: uuid.UUID, lease_seconds: float, max_attempts: int
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        _CLAIM, export_id, lease_seconds, max_attempts, timeout=STATEMENT_TIMEOUT
    )
    return row


async def progress(conn: Connection, export_id: uuid.UUID, percent: int) -> None:
    await conn.execute(_PROGRESS, export_id, percent, timeout=STATEMENT_TIMEOUT)


async def finish(
    conn: Connection,
    export_id: uuid.UUID,
    made: Made,
    sha256: bytes,
    stored_path: str | None,
    retention_days: int,
) -> dt.datetime | None:
    """None when the export is no longer ours (another run finished or failed it)."""
    finished: dt.datetime | None = await conn.fetchval(
        _FINISH,
        export_id,
        retention_days,
        made.filename,
        made.content_type,
        len(made.data),
        sha256,
        None if stored_path else made.data,
        stored_path,
        timeout=STATEMENT_TIMEOUT,
    )
    return finished


async def release(conn: Connection, export_id: uuid.UUID) -> None:
    await conn.execute(_RELEASE, export_id, timeout=STATEMENT_TIMEOUT)


async def fail(conn: Connection, export_id: uuid.UUID, reason: str) -> None:
    await conn.execute(_FAIL, export_id, reason, timeout=STATEMENT_TIMEOUT)
