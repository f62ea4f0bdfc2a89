"""Escalation: a restricted incident no DSL has read in time is raised to the deputy DSLs
(level 1), then, after as long again with still no DSL read, to the head (level 2).

Each step is an outbox event of kind 'escalation', resolved like any other event (recipients
by level, see rules.ESCALATION_ROLES), so it is recorded in the incident's alert history.
The unique index alert_events_escalation (incident_id, level) makes each step happen once,
however many workers run this loop.

A failed alert is escalated at once: when an alert of a restricted incident has failed for
good (the notifier gave up), the next step is raised without waiting for the delay, since
that person will never hear of it. See `reraise_failed_once`.

The delay counts in school time (shared.school_time.escalation_due, the function the calendar
API uses): an alert raised during the school day escalates after the delay but never later than
a margin before the day ends; one raised out of hours waits for the next school morning unless
it is restricted, and then the delay runs as usual, because harm does not keep school hours.
Only restricted incidents escalate, so today out of hours always means the plain delay. A
school that has not set its hours counts wall time.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import structlog
from arq.connections import ArqRedis

from shared import queue, school_time

log = structlog.get_logger(__name__)

# ESCALATION_END_MARGIN's default (shared.config): how long before the day ends the last
# escalation of the day is raised.
DEFAULT_END_MARGIN_SECONDS = 600.0
# Older incidents are not looked at again: keeps each pass cheap as history grows.
LOOKBACK_SECONDS = 7 * 24 * 3600.0

# Step `level` may follow the event of ($kind, $previous level) of the same incident once that
# event was resolved (its alerts created), unless some alert of the incident whose recipient is
# a DSL or deputy DSL has been read. _CANDIDATES finds those due by wall time (resolved more
# than $delay seconds ago) and those of schools with hours that school time may make due
# sooner (few: resolved within the last $delay); Python decides which are due now.
_UNREAD = """
  AND NOT EXISTS (SELECT 1 FROM alert_events x
                  WHERE x.incident_id = e.incident_id AND x.kind = 'escalation'
                    AND x.level = $3)
  AND NOT EXISTS (SELECT 1 FROM alerts a JOIN staff s ON s.id = a.recipient_id
                  WHERE a.incident_id = e.incident_id AND a.self_read_at IS NOT NULL
                    AND s.roles && ARRAY['dsl', 'deputy_dsl'])
"""
_CANDIDATES = (
    """
SELECT e.incident_id, e.resolved_at, i.restricted, now() AS now,
       c.nation, c.day_starts, c.day_ends, c.terms, c.inset_days
FROM alert_events e
JOIN incidents i ON i.id = e.incident_id AND i.restricted
LEFT JOIN school_calendars c ON c.school_id = e.school_id
WHERE e.kind = $1 AND e.level = $2
  AND e.created_at > now() - make_interval(secs => $5)
  AND (e.resolved_at < now() - make_interval(secs => $4)
       OR (e.resolved_at IS NOT NULL AND c.day_starts IS NOT NULL))"""
    + _UNREAD
)
_ESCALATE = (
    """
INSERT INTO alert_events (school_id, kind, incident_id, level, priority)
SELECT e.school_id, 'escalation', e.incident_id, $3, 1
FROM alert_events e
WHERE e.kind = $1 AND e.level = $2 AND e.incident_id = ANY($4::uuid[])
  AND e.resolved_at IS NOT NULL"""
    + _UNREAD
    + """ON CONFLICT (incident_id, level) WHERE kind = 'escalation' DO NOTHING
RETURNING id
"""
)

# (level, follows the event of this kind, at this level)
STEPS = ((1, "incident", 0), (2, "escalation", 1))


# The step after the last one raised, now, for each restricted incident with an alert that
# failed for good after that step was raised (a failure before it is answered by it), unless
# a DSL or deputy DSL has read one of its alerts. Failures of the last step raise nothing.
_RERAISE_FAILED = """
INSERT INTO alert_events (school_id, kind, incident_id, level, priority)
SELECT DISTINCT i.school_id, 'escalation', i.id, step.level, 1
FROM alerts a
JOIN alert_events e ON e.id = a.event_id
JOIN incidents i ON i.id = a.incident_id AND i.restricted
CROSS JOIN LATERAL (SELECT coalesce(max(x.level), 0) + 1 AS level, max(x.created_at) AS last_at
                    FROM alert_events x
                    WHERE x.incident_id = i.id AND x.kind = 'escalation') step
WHERE e.created_at > now() - make_interval(secs => $2)
  AND a.state = 'failed'
  AND step.level <= $1
  AND (step.last_at IS NULL OR coalesce(a.failed_at, now()) > step.last_at)
  AND NOT EXISTS (SELECT 1 FROM alerts r JOIN staff s ON s.id = r.recipient_id
                  WHERE r.incident_id = i.id AND r.self_read_at IS NOT NULL
                    AND s.roles && ARRAY['dsl', 'deputy_dsl'])
ON CONFLICT (incident_id, level) WHERE kind = 'escalation' DO NOTHING
RETURNING id, level
"""

LAST_LEVEL = max(level for level, _, _ in STEPS)


async def escalation_pass(
    pool: asyncpg.Pool,
    redis: ArqRedis,
    delay_seconds: float,
    end_margin_seconds: float = DEFAULT_END_MARGIN_SECONDS,
) -> list[int]:
    """One run of the escalation loop: failed alerts first (they are due now), then the
    steps now due in school time."""
    created = await reraise_failed_once(pool, redis, delay_seconds)
    return created + await escalate_once(pool, redis, delay_seconds, end_margin_seconds)


async def reraise_failed_once(
    pool: asyncpg.Pool, redis: ArqRedis, delay_seconds: float = 0.0
) -> list[int]:
    """Raise the next step now for restricted incidents whose alert failed for good; ring
    the worker for each. Idempotent: a step is raised once (alert_events_escalation)."""
    rows = await pool.fetch(_RERAISE_FAILED, LAST_LEVEL, max(LOOKBACK_SECONDS, 4 * delay_seconds))
    created = [r["id"] for r in rows]
    for row in rows:
        log.warning("failed_alert_reraised", event_id=row["id"], escalation_level=row["level"])
    await queue.enqueue_resolve_many(redis, created, urgent=set(created))
    return created


async def escalate_once(
    pool: asyncpg.Pool,
    redis: ArqRedis,
    delay_seconds: float,
    end_margin_seconds: float = DEFAULT_END_MARGIN_SECONDS,
    now: dt.datetime | None = None,
) -> list[int]:
    """Create the escalation events now due; ring the worker for each. Returns their ids.
    `now`: the moment school time is judged at (the database's clock unless a test says)."""
    created: list[int] = []
    for level, after_kind, after_level in STEPS:
        step = (after_kind, after_level, level)
        due = await _due(pool, step, delay_seconds, end_margin_seconds, now)
        rows = await pool.fetch(_ESCALATE, after_kind, after_level, level, due) if due else []
        created += [r["id"] for r in rows]
        for row in rows:
            log.warning("alert_escalated", event_id=row["id"], escalation_level=level)
    # The events are committed: if Redis is away, the relay rings them later.
    await queue.enqueue_resolve_many(redis, created, urgent=set(created))
    return created


async def _due(
    pool: asyncpg.Pool,
    step: tuple[str, int, int],
    delay_seconds: float,
    margin_seconds: float,
    now: dt.datetime | None,
) -> list[uuid.UUID]:
    """The incidents whose step is due now, each judged by its school's calendar."""
    lookback = max(LOOKBACK_SECONDS, 4 * delay_seconds)
    rows = await pool.fetch(_CANDIDATES, *step, delay_seconds, lookback)
    delay, margin = dt.timedelta(seconds=delay_seconds), dt.timedelta(seconds=margin_seconds)
    return [r["incident_id"] for r in rows if _due_at(r, delay, margin) <= (now or r["now"])]


def _due_at(row: asyncpg.Record, delay: dt.timedelta, margin: dt.timedelta) -> dt.datetime:
    calendar = school_time.from_row(row if row["nation"] is not None else None)
    return school_time.escalation_due(
        row["resolved_at"], delay, calendar, row["restricted"], margin
    )
