"""What the safeguarding overview lists for one school (read-only): restricted incidents no
DSL has read themselves, incidents with no action yet, and alerts whose email failed for good.
The page (services/ingest/web/safeguarding.py) decides who may see it."""

from __future__ import annotations

import uuid

import asyncpg

from shared.database import Connection

_INCIDENT = """i.id AS incident_id, i.reference, i.recorded_at, i.occurred_at, i.restricted,
  p.external_id AS pupil_external_id, p.first_name || ' ' || p.last_name AS pupil,
  ARRAY(SELECT coalesce(g.name || ': ', '') || c.name
        FROM incident_categories ic
        JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
        LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
        WHERE ic.incident_id = i.id ORDER BY ic.category_slug) AS categories"""

# Restricted incidents none of whose alerts a DSL or deputy DSL has read themselves (the rule
# escalation follows: self_read_at; one not yet resolved into alerts counts too), with the
# last escalation step raised.
_UNREAD = f"""
SELECT {_INCIDENT},
  (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id) AS alerts,
  esc.level, esc.created_at AS escalated_at
FROM incidents i
JOIN pupils p ON p.id = i.pupil_id
LEFT JOIN LATERAL (SELECT x.level, x.created_at FROM alert_events x
                   WHERE x.incident_id = i.id AND x.kind = 'escalation'
                   ORDER BY x.level DESC LIMIT 1) esc ON true
WHERE i.school_id = $1 AND i.restricted
  AND NOT EXISTS (SELECT 1 FROM alerts a JOIN staff s ON s.id = a.recipient_id
                  WHERE a.incident_id = i.id AND a.self_read_at IS NOT NULL
                    AND s.roles && ARRAY['dsl', 'deputy_dsl'])
ORDER BY i.recorded_at, i.reference
LIMIT $2"""  # noqa: S608 (constant text, no input)

_NO_ACTION_WHERE = """i.school_id = $1
  AND NOT EXISTS (SELECT 1 FROM actions x WHERE x.incident_id = i.id)"""

_NO_ACTION_COUNT = f"SELECT count(*) FROM incidents i WHERE {_NO_ACTION_WHERE}"  # noqa: S608

_NO_ACTION = f"""
SELECT {_INCIDENT}, a.first_name || ' ' || a.last_name AS author
FROM incidents i
JOIN pupils p ON p.id = i.pupil_id
JOIN staff a ON a.id = i.author_id
WHERE {_NO_ACTION_WHERE}
ORDER BY i.recorded_at DESC, i.reference DESC
LIMIT $2 OFFSET $3"""  # noqa: S608 (constant text, no input)

# Every alert the notifier gave up on, newest first; for a restricted incident, the first
# escalation step raised at or after the failure (the worker re-raises at once).
_FAILED = f"""
SELECT {_INCIDENT}, a.id, a.failed_at, a.queued_at, a.error, a.attempts, e.kind AS event,
  r.first_name || ' ' || r.last_name AS recipient,
  (SELECT min(x.level) FROM alert_events x
   WHERE i.restricted AND x.incident_id = i.id AND x.kind = 'escalation'
     AND x.created_at >= coalesce(a.failed_at, a.queued_at)) AS reraised_level
FROM alerts a
JOIN alert_events e ON e.id = a.event_id
JOIN incidents i ON i.id = a.incident_id
JOIN pupils p ON p.id = i.pupil_id
JOIN staff r ON r.id = a.recipient_id
WHERE a.school_id = $1 AND a.state = 'failed'
ORDER BY a.failed_at DESC NULLS LAST, a.id
LIMIT $2"""  # noqa: S608 (constant text, no input)


async def unread_restricted(
    conn: Connection, school_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(_UNREAD, school_id, limit)


async def without_action(
    conn: Connection, school_id: uuid.UUID, limit: int, page: int
) -> tuple[int, list[asyncpg.Record]]:
    """(how many in all, the rows of page `page` from 1)."""
    total: int = await conn.fetchval(_NO_ACTION_COUNT, school_id)
    rows = await conn.fetch(_NO_ACTION, school_id, limit, (page - 1) * limit)
    return total, rows


async def failed_alerts(conn: Connection, school_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(_FAILED, school_id, limit)
