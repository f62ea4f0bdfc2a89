"""The alerts read model: who was told about an incident, one person's alerts, and the two
marks a recipient leaves on an alert (read, actioned).

The worker creates alert rows and the notifier's engine moves their delivery state; everything
a person or an API reads or marks goes through here, so the status API, ingest's actions and
the staff pages agree on what "read" and "actioned" mean:
- `read_at` is the first time it was marked read (kept on later reads); `self_read_at` the
  first time the recipient read it themselves, which alone stops an escalation;
- `actioned_at` is the first action the recipient added to the incident;
- neither touches the delivery state, nor any access grant.
Functions take a connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.database import Connection

# The columns every alert answer carries, with the recipient's id as the school knows it.
_COLUMNS = """a.id, s.external_id AS recipient, e.kind AS event, a.state, a.queued_at,
       a.sent_at, a.read_at, a.actioned_at, a.error"""

_INCIDENT_ALERTS = f"""
SELECT {_COLUMNS}
FROM alerts a JOIN staff s ON s.id = a.recipient_id JOIN alert_events e ON e.id = a.event_id
WHERE a.incident_id = $1 AND a.school_id = $2
ORDER BY a.queued_at, e.id, s.external_id"""  # noqa: S608 (constant text, no input)

_STAFF_ALERTS = f"""
SELECT {_COLUMNS}
FROM alerts a JOIN staff s ON s.id = a.recipient_id JOIN alert_events e ON e.id = a.event_id
WHERE a.recipient_id = $1
ORDER BY a.read_at IS NOT NULL, a.queued_at DESC, a.id
LIMIT $2 OFFSET $3"""  # noqa: S608 (constant text, no input)

# The first read_at is kept; joining the recipient by external id means only they can mark it.
# $4: the recipient read it themselves (a session), which is what stops an escalation.
_MARK_READ = f"""
UPDATE alerts a SET read_at = coalesce(a.read_at, now()),
       self_read_at = CASE WHEN $4 THEN coalesce(a.self_read_at, now()) ELSE a.self_read_at END
FROM staff s, alert_events e
WHERE a.id = $1 AND a.school_id = $2 AND s.id = a.recipient_id AND s.external_id = $3
  AND e.id = a.event_id
RETURNING {_COLUMNS}"""  # noqa: S608 (constant text, no input)

_MARK_ACTIONED = """
UPDATE alerts SET actioned_at = now()
WHERE incident_id = $1 AND recipient_id = $2 AND actioned_at IS NULL"""


async def incident_alerts(
    conn: Connection, school_id: uuid.UUID, incident_id: uuid.UUID
) -> list[asyncpg.Record]:
    """Every alert about the incident (all its events), oldest first."""
    return await conn.fetch(_INCIDENT_ALERTS, incident_id, school_id)


async def staff_alerts(
    conn: Connection, staff_id: uuid.UUID, limit: int, offset: int = 0
) -> list[asyncpg.Record]:
    """One person's alerts, unread first, then newest: `limit` of them after `offset`."""
    return await conn.fetch(_STAFF_ALERTS, staff_id, limit, offset)


async def mark_read(
    conn: Connection,
    school_id: uuid.UUID,
    alert_id: uuid.UUID,
    recipient: str,
    by_recipient: bool,
) -> asyncpg.Record | None:
    """Marks the alert read if `recipient` (the school's staff id) is the one it was sent to;
    None when it was not (or does not exist). `by_recipient`: the person read it themselves
    (their session); an integration marking it for them does not stop an escalation."""
    return await conn.fetchrow(_MARK_READ, alert_id, school_id, recipient, by_recipient)


async def mark_actioned(conn: Connection, incident_id: uuid.UUID, staff_id: uuid.UUID) -> int:
    """Marks every alert the person got about the incident actioned; returns how many."""
    status: str = await conn.execute(_MARK_ACTIONED, incident_id, staff_id)
    return int(status.split()[-1])


def alert_json(row: asyncpg.Record) -> dict[str, Any]:
    """The status API's shape of one alert."""
    return {
        "id": str(row["id"]),
        "recipient": row["recipient"],
        "event": row["event"],
        "state": row["state"],
        "queued_at": _time(row["queued_at"]),
        "sent_at": _time(row["sent_at"]),
        "read_at": _time(row["read_at"]),
        "actioned_at": _time(row["actioned_at"]),
        "error": row["error"],
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# -- One person's inbox, for the staff pages ---------------------------------------------------

INBOX_PAGE_SIZE = 25

# Unread first, then newest: the index alerts_inbox serves both the page and its order, so
# the first page costs the same for 5 alerts or 20,000.
_INBOX = """
SELECT a.id, a.incident_id, a.queued_at, a.read_at, a.actioned_at, a.state, e.kind AS event,
       i.reference, i.restricted, i.pupil_id, i.occurred_at,
       p.first_name || ' ' || p.last_name AS pupil,
       coalesce(aa.first_name || ' ' || aa.last_name, ia.first_name || ' ' || ia.last_name)
           AS raised_by,
       ARRAY(SELECT l.pupil_id FROM incident_linked_pupils l WHERE l.incident_id = i.id)
           AS linked,
       ARRAY(SELECT coalesce(g.name || ': ', '') || c.name
             FROM incident_categories ic
             JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE ic.incident_id = i.id ORDER BY ic.category_slug) AS categories,
       ARRAY(SELECT DISTINCT coalesce(g.name, c.name)
             FROM incident_categories ic
             JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE ic.incident_id = i.id) AS groups
FROM alerts a
JOIN alert_events e ON e.id = a.event_id
JOIN incidents i ON i.id = a.incident_id
JOIN pupils p ON p.id = i.pupil_id
JOIN staff ia ON ia.id = i.author_id
LEFT JOIN actions act ON act.id = e.action_id
LEFT JOIN staff aa ON aa.id = act.author_id
WHERE a.recipient_id = $1
ORDER BY (a.read_at IS NOT NULL), a.queued_at DESC, a.id
LIMIT $2 OFFSET $3"""

_INBOX_COUNTS = """
SELECT count(*) FILTER (WHERE read_at IS NULL) AS new,
       count(*) FILTER (WHERE read_at IS NOT NULL AND actioned_at IS NULL) AS read,
       count(*) FILTER (WHERE actioned_at IS NOT NULL) AS actioned
FROM alerts WHERE recipient_id = $1"""


async def inbox(conn: Connection, staff_id: uuid.UUID, page: int) -> list[asyncpg.Record]:
    """Page `page` (from 1) of a person's alerts with what the list shows of each incident.

    In the caller's transaction, which plans generically from here on: PostgreSQL otherwise
    re-planned this statement on every call (2.9 ms of planning for 1.5 ms of running, with a
    head's 20,000 alerts), and the index serves every recipient with the same plan."""
    if not conn.is_in_transaction():
        raise RuntimeError("alerts.inbox runs in the caller's transaction")
    await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    offset = (max(page, 1) - 1) * INBOX_PAGE_SIZE
    return await conn.fetch(_INBOX, staff_id, INBOX_PAGE_SIZE, offset)


async def inbox_counts(conn: Connection, staff_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow(_INBOX_COUNTS, staff_id)
    assert row is not None  # counts: always one row
    return row


def reading_state(row: asyncpg.Record) -> str:
    """What the recipient has done with it: new, read or actioned."""
    if row["actioned_at"] is not None:
        return "actioned"
    return "new" if row["read_at"] is None else "read"


async def open_own_alert(
    conn: Connection, alert_id: uuid.UUID, staff_id: uuid.UUID
) -> uuid.UUID | None:
    """Marks the person's own alert read (first time kept) and returns its incident; None when
    the alert is not theirs or does not exist."""
    incident_id: uuid.UUID | None = await conn.fetchval(
        """UPDATE alerts SET read_at = coalesce(read_at, now()),
                  self_read_at = coalesce(self_read_at, now())
           WHERE id = $1 AND recipient_id = $2 RETURNING incident_id""",
        alert_id,
        staff_id,
    )
    return incident_id
