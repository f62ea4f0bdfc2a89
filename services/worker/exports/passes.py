"""The worker's export pass, beside the relay: expire, ring again, give up, re-send.

- Expire: a done export past `expires_at` loses its file (deleted from FILES_DIR, or its bytes
  cleared) and becomes `expired`; the row stays, and the expiry is audited. The guarded update
  comes first and the file goes after commit, so a crash in between leaves at worst an orphan
  file (found again below: its row is already expired), never a row pointing at nothing.
- Ring again: an export still queued a few seconds after it was asked for, or running with its
  lease run out (its worker died), gets its doorbell again (Redis may have lost it).
- Give up: one out of attempts is failed, with the reason.
- Re-send: a ready email the mail server refused is tried again, for a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from arq.connections import ArqRedis

from services.worker.exports import jobs, store
from shared import audit, queue
from shared.config import Settings

log = structlog.get_logger(__name__)

BATCH = 100
RING_AFTER_SECONDS = 5.0

_EXPIRE = """
WITH due AS (
  SELECT id FROM exports WHERE state = 'done' AND expires_at <= now()
  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE exports e SET state = 'expired', expired_at = now(), data = NULL, stored_path = NULL
FROM due, exports old
WHERE e.id = due.id AND old.id = due.id
RETURNING e.id, e.school_id, e.kind, e.filename, e.requested_by, old.stored_path"""

_LOST = """
SELECT id FROM exports
WHERE attempts < $1 AND (
  (state = 'queued' AND created_at < now() - make_interval(secs => $2))
  OR (state = 'running' AND lease_until < now()))
ORDER BY created_at LIMIT $3"""

_GIVE_UP = """
UPDATE exports SET state = 'failed', finished_at = now(), lease_until = NULL,
                   error = 'It could not be made after ' || attempts || ' attempts. Ask again.'
WHERE attempts >= $1 AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
RETURNING id"""

_UNSENT = """
SELECT id FROM exports
WHERE state = 'done' AND emailed_at IS NULL AND finished_at > now() - interval '1 day'
  AND finished_at < now() - make_interval(secs => $1)
ORDER BY finished_at LIMIT $2"""


@dataclass(frozen=True, slots=True)
class PassResult:
    expired: int = 0
    rung: int = 0
    given_up: int = 0
    emailed: int = 0


async def export_pass(settings: Settings, pool: asyncpg.Pool, redis: ArqRedis) -> PassResult:
    expired = await expire_files(pool)
    async with pool.acquire() as conn:
        lost = [
            str(r["id"])
            for r in await conn.fetch(_LOST, jobs.MAX_ATTEMPTS, RING_AFTER_SECONDS, BATCH)
        ]
        given_up = await conn.fetch(_GIVE_UP, jobs.MAX_ATTEMPTS)
        unsent = [r["id"] for r in await conn.fetch(_UNSENT, RING_AFTER_SECONDS, BATCH)]
    rung = await queue.enqueue_export_many(redis, lost) if lost else []
    emailed = [e for e in unsent if await jobs.send_ready_email(settings, pool, e)]
    result = PassResult(expired, len(rung), len(given_up), len(emailed))
    if expired or rung or given_up or emailed:
        log.info("export_pass", **{k: getattr(result, k) for k in result.__slots__})
    return result


async def expire_files(pool: asyncpg.Pool) -> int:
    """Expire every export past its time; returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(_EXPIRE, BATCH)
        for row in due:
            await _audit(conn, row)
    for row in due:
        await store.remove(row["stored_path"])
    return len(due)


async def _audit(conn: Any, row: asyncpg.Record) -> None:
    await audit.append(
        conn,
        school_id=row["school_id"],
        action="export.expire",
        subject_type="export",
        subject_id=row["id"],
        detail={"kind": row["kind"], "filename": row["filename"], "file": "deleted"},
    )
