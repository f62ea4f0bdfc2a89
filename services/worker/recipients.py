"""Resolving one outbox event into alerts: who must be told, in two set-based statements.

Invariants (the job may run more than once, or twice at the same time):
- a resolved event is never resolved again: the alerts and grants are inserted by the same
  statement that sets `resolved_at`, guarded by `resolved_at IS NULL`, so of two concurrent
  runs the second waits for the first's row lock, re-checks the guard and inserts nothing;
  alerts are unique per (event, recipient) besides;
- the author is never alerted about their own record, inactive staff never at all;
- naming a non-privileged person on a restricted incident grants access to that incident alone.

Reading the event needs no lock: an incident, its children and its event are append-only, and
the rules are read once per resolution, as before. Two round trips and no transaction of its
own (it still works inside a caller's): BEGIN, a lock, a rules query and COMMIT were more than
half the worker's time per event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from services.worker import rules
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES, EventKind

log = structlog.get_logger(__name__)

_READ_EVENT = """
SELECT e.id, e.school_id, e.kind, e.incident_id, e.level, e.priority, e.resolved_at,
       i.restricted, i.pupil_id, COALESCE(a.author_id, i.author_id) AS author_id,
       ARRAY(SELECT category_slug FROM incident_categories c
             WHERE c.incident_id = e.incident_id) AS categories,
       ARRAY(SELECT pupil_id FROM incident_linked_pupils l
             WHERE l.incident_id = e.incident_id) AS linked_pupils,
       CASE e.kind
           WHEN 'incident' THEN ARRAY(SELECT staff_id FROM incident_alert_staff n
                                      WHERE n.incident_id = e.incident_id)
           WHEN 'action' THEN ARRAY(SELECT staff_id FROM action_alert_staff n
                                    WHERE n.action_id = e.action_id)
           ELSE '{}'::uuid[]
       END AS named_staff,
       ARRAY(SELECT ROW(r.event_kind, r.category_slug, r.roles, r.class_teachers)
             FROM alert_rules r
             WHERE r.school_id = e.school_id AND r.event_kind = e.kind) AS rules
FROM alert_events e
JOIN incidents i ON i.id = e.incident_id
LEFT JOIN actions a ON a.id = e.action_id
WHERE e.id = $1
"""

# $1 school, $2 event, $3 incident, $4 priority, $5 author, $6 roles, $7 class teachers?,
# $8 pupils (the pupil and linked pupils), $9 named staff, $10 grant access to named staff?,
# $11 grant reason, $12 privileged roles (they need no grant).
_RESOLVE = """
WITH resolving AS (
    UPDATE alert_events SET resolved_at = now()
    WHERE id = $2 AND resolved_at IS NULL
    RETURNING id
), alerted AS (
    -- Someone who has already added an action to the incident has acted on it: their new
    -- alert starts actioned (an action can be recorded before this event is resolved).
    INSERT INTO alerts (school_id, event_id, incident_id, recipient_id, priority, actioned_at)
    SELECT s.school_id, r.id, $3, s.id, $4,
           (SELECT min(x.recorded_at) FROM actions x
            WHERE x.incident_id = $3 AND x.author_id = s.id)
    FROM resolving r CROSS JOIN staff s
    WHERE s.school_id = $1 AND s.active AND s.id <> $5
      AND (s.roles && $6::text[]
           OR ($7 AND s.id IN (SELECT ct.staff_id
                               FROM pupil_classes pc
                               JOIN classes c ON c.id = pc.class_id AND c.active
                               JOIN class_teachers ct ON ct.class_id = c.id
                               WHERE pc.pupil_id = ANY($8::uuid[])))
           OR s.id = ANY($9::uuid[]))
    ON CONFLICT (event_id, recipient_id) DO NOTHING
    RETURNING 1
), granted AS (
    INSERT INTO incident_access_grants (school_id, incident_id, staff_id, reason)
    SELECT s.school_id, $3, s.id, $11
    FROM resolving r CROSS JOIN staff s
    WHERE $10 AND s.school_id = $1 AND s.active AND s.id <> $5 AND s.id = ANY($9::uuid[])
      AND NOT s.roles && $12::text[]
    ON CONFLICT (incident_id, staff_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM resolving) AS resolved, (SELECT count(*) FROM alerted) AS alerts,
       (SELECT count(*) FROM granted) AS grants
"""

_PRIVILEGED = sorted(str(r) for r in PRIVILEGED_ROLES)
_GRANT_REASONS = {
    EventKind.INCIDENT: "named on restricted incident",
    EventKind.ACTION: "named on an action on restricted incident",
}


@dataclass(frozen=True, slots=True)
class Resolution:
    event_id: int
    found: bool
    already_resolved: bool = False
    alerts: int = 0
    grants: int = 0


async def resolve(conn: Connection, event_id: int) -> Resolution:
    """Create the event's alerts and access grants and mark it resolved, atomically.

    The notifier must be told only after this has committed (at once, outside a transaction).
    """
    event = await conn.fetchrow(_READ_EVENT, event_id)
    if event is None:
        return Resolution(event_id, found=False)
    if event["resolved_at"] is not None:
        return Resolution(event_id, found=True, already_resolved=True)
    audience = _audience(event)
    pupils: list[uuid.UUID] = [event["pupil_id"], *event["linked_pupils"]]
    grant = bool(event["restricted"] and event["named_staff"])
    row = await conn.fetchrow(
        _RESOLVE,
        event["school_id"],
        event_id,
        event["incident_id"],
        event["priority"],
        event["author_id"],
        sorted(audience.roles),
        audience.class_teachers,
        pupils,
        event["named_staff"],
        grant,
        _GRANT_REASONS.get(event["kind"], ""),
        _PRIVILEGED,
    )
    assert row is not None  # a SELECT of counts: always one row
    if not row["resolved"]:  # another run resolved it between our read and write
        return Resolution(event_id, found=True, already_resolved=True)
    return Resolution(event_id, found=True, alerts=row["alerts"], grants=row["grants"])


def _audience(event: asyncpg.Record) -> rules.Audience:
    school_rules = [
        rules.Rule(kind, category, frozenset(roles), class_teachers)
        for kind, category, roles, class_teachers in event["rules"]
    ]
    return rules.event_audience(
        school_rules, event["kind"], event["level"], event["categories"], event["restricted"]
    )
