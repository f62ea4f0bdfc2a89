"""Resolving one outbox event into alerts: who must be told, in a few set-based queries.

Invariants (the job may run more than once, or twice at the same time):
- the event row is locked for the whole resolution, and a resolved event is never resolved
  again; alerts are unique per (event, recipient), so a re-run inserts nothing new;
- the author is never alerted about their own record, inactive staff never at all;
- naming a non-privileged person on a restricted incident grants access to that incident alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from services.worker import rules
from shared.domain import PRIVILEGED_ROLES, EventKind

log = structlog.get_logger(__name__)

_LOCK_EVENT = """
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
       END AS named_staff
FROM alert_events e
JOIN incidents i ON i.id = e.incident_id
LEFT JOIN actions a ON a.id = e.action_id
WHERE e.id = $1
FOR UPDATE OF e
"""

_RULES = """
SELECT event_kind, category_slug, roles, class_teachers FROM alert_rules
WHERE school_id = $1 AND event_kind = $2
"""

# $1 school, $2 event, $3 incident, $4 priority, $5 author, $6 roles, $7 class teachers?,
# $8 pupils (the pupil and linked pupils), $9 named staff.
_INSERT_ALERTS = """
INSERT INTO alerts (school_id, event_id, incident_id, recipient_id, priority)
SELECT s.school_id, $2, $3, s.id, $4
FROM staff s
WHERE s.school_id = $1 AND s.active AND s.id <> $5
  AND (s.roles && $6::text[]
       OR ($7 AND s.id IN (SELECT ct.staff_id
                           FROM pupil_classes pc
                           JOIN classes c ON c.id = pc.class_id AND c.active
                           JOIN class_teachers ct ON ct.class_id = c.id
                           WHERE pc.pupil_id = ANY($8::uuid[])))
       OR s.id = ANY($9::uuid[]))
ON CONFLICT (event_id, recipient_id) DO NOTHING
"""

_GRANT_ACCESS = """
INSERT INTO incident_access_grants (school_id, incident_id, staff_id, reason)
SELECT s.school_id, $2, s.id, $5
FROM staff s
WHERE s.school_id = $1 AND s.active AND s.id <> $3 AND s.id = ANY($4::uuid[])
  AND NOT s.roles && $6::text[]
ON CONFLICT (incident_id, staff_id) DO NOTHING
"""

_MARK_RESOLVED = "UPDATE alert_events SET resolved_at = now() WHERE id = $1"

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


async def resolve(conn: asyncpg.Connection, event_id: int) -> Resolution:
    """Create the event's alerts and access grants and mark it resolved.

    Runs in the caller's transaction, which must commit before the notifier is told.
    """
    event = await conn.fetchrow(_LOCK_EVENT, event_id)
    if event is None:
        return Resolution(event_id, found=False)
    if event["resolved_at"] is not None:
        return Resolution(event_id, found=True, already_resolved=True)
    audience = await _audience(conn, event)
    alerts = await _insert_alerts(conn, event, audience)
    grants = await _grant_access(conn, event) if event["restricted"] else 0
    await conn.execute(_MARK_RESOLVED, event_id)
    return Resolution(event_id, found=True, alerts=alerts, grants=grants)


async def _audience(conn: asyncpg.Connection, event: asyncpg.Record) -> rules.Audience:
    school_rules: list[rules.Rule] = []
    if event["kind"] != EventKind.ESCALATION:
        rows = await conn.fetch(_RULES, event["school_id"], event["kind"])
        school_rules = [rules.Rule(r["event_kind"], r["category_slug"], frozenset(r["roles"]),
                                   r["class_teachers"]) for r in rows]
    return rules.event_audience(school_rules, event["kind"], event["level"],
                                event["categories"], event["restricted"])


async def _insert_alerts(conn: asyncpg.Connection, event: asyncpg.Record,
                         audience: rules.Audience) -> int:
    pupils: list[uuid.UUID] = [event["pupil_id"], *event["linked_pupils"]]
    status = await conn.execute(
        _INSERT_ALERTS, event["school_id"], event["id"], event["incident_id"],
        event["priority"], event["author_id"], sorted(audience.roles),
        audience.class_teachers, pupils, event["named_staff"])
    return _row_count(status)


async def _grant_access(conn: asyncpg.Connection, event: asyncpg.Record) -> int:
    if not event["named_staff"]:
        return 0
    status = await conn.execute(
        _GRANT_ACCESS, event["school_id"], event["incident_id"], event["author_id"],
        event["named_staff"], _GRANT_REASONS[EventKind(event["kind"])], _PRIVILEGED)
    return _row_count(status)


def _row_count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "INSERT 0 5".
    return int(status.rsplit(" ", 1)[-1])
