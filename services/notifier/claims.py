"""The alert state machine in SQL: claim with a lease, then record sent / retrying / failed.

    queued | retrying (due) | sending (lease expired) --claim--> sending --250--> sent
                                                                 --4xx--> retrying | failed
                                                                 --5xx--> failed

Every transition is a guarded UPDATE (`... AND state = 'sending'`), so no read-modify-write race
exists between engines; claims use FOR UPDATE SKIP LOCKED so engines never wait on each other.
Functions take a connection (or pool) and never open transactions of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from services.notifier.message import AlertMail
from shared.database import Connection

# Fairness: each school offers at most `$1 * 2` due rows through its own index probe (LATERAL),
# ranked within the school; rows are taken by priority, then turn, so 500 alerts of school A
# interleave with school B's 5 instead of going first. `turn` comes from the candidate snapshot;
# the state predicate is repeated on the locked row so a row claimed meanwhile by another engine
# is re-checked on its new version and dropped.
_CLAIM = """
WITH candidates AS (
    SELECT c.id, c.school_id, c.priority, c.queued_at
    FROM schools s
    CROSS JOIN LATERAL (
        SELECT a.id, a.school_id, a.priority, a.queued_at FROM alerts a
        WHERE a.school_id = s.id AND a.state IN ('queued', 'retrying')
          AND a.next_attempt_at <= now()
        ORDER BY a.priority DESC, a.queued_at
        LIMIT $1 * 2
    ) c
    UNION ALL
    (SELECT id, school_id, priority, queued_at FROM alerts
     WHERE state = 'sending' AND lease_until < now() ORDER BY lease_until LIMIT $1)
), ranked AS (
    SELECT id, priority, queued_at,
           row_number() OVER (PARTITION BY school_id ORDER BY priority DESC, queued_at) AS turn
    FROM candidates
    ORDER BY priority DESC, turn, queued_at
    LIMIT $1 * 2  -- slack for rows other engines hold; keeps the join below on the pkey
), picked AS (
    SELECT a.id FROM ranked r JOIN alerts a ON a.id = r.id
    WHERE (a.state IN ('queued', 'retrying') AND a.next_attempt_at <= now())
       OR (a.state = 'sending' AND a.lease_until < now())
    ORDER BY r.priority DESC, r.turn, r.queued_at
    LIMIT $1
    FOR UPDATE OF a SKIP LOCKED
), claimed AS (
    UPDATE alerts a
    SET state = 'sending', lease_until = now() + make_interval(secs => $2),
        attempts = a.attempts + 1
    WHERE a.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING a.id, a.event_id, a.incident_id, a.recipient_id, a.attempts, a.priority
), facts AS MATERIALIZED (
    -- Once per incident, not per alert: an incident's recipients share all of it.
    SELECT i.id, i.reference, author.initials, sch.name AS school,
           -- Each category by its email-safe name when it has one. A restricted incident
           -- otherwise names only its groups ("Safeguarding"): a sub-category such as
           -- "Operation Encompass" on a lock screen says too much.
           coalesce(CASE WHEN i.restricted THEN
                        (SELECT string_agg(n.name, ', ' ORDER BY n.name)
                         FROM (SELECT DISTINCT coalesce(cat.email_name, g.email_name, g.name,
                                                        cat.name) AS name
                               FROM incident_categories ic
                               JOIN categories cat ON cat.school_id = ic.school_id
                                                  AND cat.slug = ic.category_slug
                               LEFT JOIN categories g ON g.school_id = cat.school_id
                                                     AND g.slug = cat.parent_slug
                               WHERE ic.incident_id = i.id) n)
                    ELSE
                        (SELECT string_agg(coalesce(cat.email_name,
                                                    coalesce(coalesce(g.email_name, g.name)
                                                             || ' / ', '') || cat.name), ', '
                                           ORDER BY ic.category_slug)
                         FROM incident_categories ic
                         JOIN categories cat ON cat.school_id = ic.school_id
                                            AND cat.slug = ic.category_slug
                         LEFT JOIN categories g ON g.school_id = cat.school_id
                                               AND g.slug = cat.parent_slug
                         WHERE ic.incident_id = i.id)
                    END, '') AS categories
    FROM incidents i
    JOIN staff author ON author.id = i.author_id
    JOIN schools sch ON sch.id = i.school_id
    WHERE i.id = ANY(ARRAY(SELECT DISTINCT incident_id FROM claimed))
)
SELECT c.id, c.attempts, c.priority, r.email, e.kind, f.reference, f.school, f.categories,
       coalesce(action_author.initials, f.initials) AS initials
FROM claimed c
JOIN facts f ON f.id = c.incident_id
JOIN staff r ON r.id = c.recipient_id
JOIN alert_events e ON e.id = c.event_id
LEFT JOIN actions act ON act.id = e.action_id
LEFT JOIN staff action_author ON action_author.id = act.author_id
ORDER BY c.priority DESC
"""


async def claim_due(
    conn: Connection | asyncpg.Pool, limit: int, lease_seconds: float
) -> list[tuple[AlertMail, int]]:
    """Lease up to `limit` due alerts (priority first, fair across schools) with everything
    their emails need, in one statement. Returns (mail, attempts) pairs."""
    rows = await conn.fetch(_CLAIM, limit, lease_seconds)
    return [
        (
            AlertMail(
                r["id"],
                r["email"],
                r["kind"],
                r["reference"],
                r["school"],
                r["categories"],
                r["initials"],
            ),
            r["attempts"],
        )
        for r in rows
    ]


async def mark_sent(conn: Connection | asyncpg.Pool, ids: Sequence[uuid.UUID]) -> int:
    status: str = await conn.execute(
        """UPDATE alerts SET state = 'sent', sent_at = now(), lease_until = NULL, error = NULL
           WHERE id = ANY($1::uuid[]) AND state = 'sending'""",
        list(ids),
    )
    return int(status.split()[-1])


async def mark_retrying(
    conn: Connection | asyncpg.Pool, alert_id: uuid.UUID, delay_seconds: float, error: str
) -> bool:
    status: str = await conn.execute(
        """UPDATE alerts SET state = 'retrying', lease_until = NULL, error = $3,
                  next_attempt_at = now() + make_interval(secs => $2)
           WHERE id = $1 AND state = 'sending'""",
        alert_id,
        delay_seconds,
        error,
    )
    return status.endswith(" 1")


async def mark_failed(conn: Connection | asyncpg.Pool, alert_id: uuid.UUID, error: str) -> bool:
    status: str = await conn.execute(
        """UPDATE alerts SET state = 'failed', failed_at = now(), lease_until = NULL, error = $2
           WHERE id = $1 AND state = 'sending'""",
        alert_id,
        error,
    )
    return status.endswith(" 1")


async def count_due(conn: Connection | asyncpg.Pool) -> int:
    count: int = await conn.fetchval(
        """SELECT count(*) FROM alerts
           WHERE (state IN ('queued', 'retrying') AND next_attempt_at <= now())
              OR (state = 'sending' AND lease_until < now())"""
    )
    return count
