"""The outbox relay: hands arq the events it never got, or lost, until they are resolved.

arq is a doorbell and Redis may lose jobs (restart without AOF, ingest dying between commit and
enqueue, a job failing for good). PostgreSQL is the record: every unresolved event is rung
again until the worker marks it resolved. Ringing twice is harmless: a job id that is still
queued is refused by arq, and resolution is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import structlog
from arq.connections import ArqRedis

from shared import queue

log = structlog.get_logger(__name__)

BATCH = 500
MAX_BATCHES = 20  # per pass, so one pass stays short even with a deep backlog
# An event not yet rung is left to ingest for this long; one already rung is rung again after
# STALE_SECONDS (it may have been lost with Redis).
NEW_GRACE_SECONDS = 1.0
STALE_SECONDS = 5.0
DELIVER_STALE_SECONDS = 10.0
DELIVER_BATCH = 200

_PENDING = """
SELECT id, priority FROM alert_events
WHERE resolved_at IS NULL
  AND CASE WHEN enqueued_at IS NULL
           THEN created_at < now() - make_interval(secs => $1)
           ELSE enqueued_at < now() - make_interval(secs => $2) END
ORDER BY priority DESC, id
LIMIT $3
"""

_MARK_RUNG = """
UPDATE alert_events
SET enqueued_at = now(),
    enqueue_count = enqueue_count + CASE WHEN id = ANY($2::bigint[]) THEN 1 ELSE 0 END
WHERE id = ANY($1::bigint[])
"""

# Resolved events whose alerts still wait for the notifier: ring it again (it sweeps too).
_UNDELIVERED = """
SELECT event_id FROM alerts
WHERE state = 'queued' AND next_attempt_at < now() - make_interval(secs => $1)
GROUP BY event_id
ORDER BY max(priority) DESC, event_id
LIMIT $2
"""


@dataclass(frozen=True, slots=True)
class RelayPass:
    rung: int = 0
    enqueued: int = 0
    delivered_rung: int = 0


async def relay_once(
    pool: asyncpg.Pool,
    redis: ArqRedis,
    new_grace: float = NEW_GRACE_SECONDS,
    stale_seconds: float = STALE_SECONDS,
) -> RelayPass:
    rung = enqueued = 0
    for _ in range(MAX_BATCHES):
        rows = await pool.fetch(_PENDING, new_grace, stale_seconds, BATCH)
        ids = [r["id"] for r in rows]
        urgent = {r["id"] for r in rows if r["priority"] > 0}
        fresh = await queue.enqueue_resolve_many(redis, ids, urgent)
        if ids:
            await pool.execute(_MARK_RUNG, ids, fresh)
        rung, enqueued = rung + len(ids), enqueued + len(fresh)
        if len(ids) < BATCH:
            break
    delivered = await ring_notifier(pool, redis)
    if rung or delivered:
        log.info("relay_pass", rung=rung, enqueued=enqueued, deliver_rung=delivered)
    return RelayPass(rung, enqueued, delivered)


async def ring_notifier(
    pool: asyncpg.Pool, redis: ArqRedis, stale_seconds: float = DELIVER_STALE_SECONDS
) -> int:
    rows = await pool.fetch(_UNDELIVERED, stale_seconds, DELIVER_BATCH)
    await queue.enqueue_deliver_many(redis, [row["event_id"] for row in rows])
    return len(rows)
