"""The alerts read model: who was told about an incident, one person's alerts, and the two
marks a recipient leaves on an alert (read, actioned).

The worker creates alert rows and the notifier's engine moves their delivery state; everything
a person or an API reads or marks goes through here, so the status API, ingest's actions and
the staff pages agree on what "read" and "actioned" mean:
- `read_at` is the first time the recipient opened it (kept on later reads);
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
LIMIT $2"""  # noqa: S608 (constant text, no input)

# The first read_at is kept; joining the recipient by external id means only they can mark it.
_MARK_READ = f"""
UPDATE alerts a SET read_at = coalesce(a.read_at, now())
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
    return await conn.fetch(_INCIDENT_ALERTS, incident_id, school_id)  # type: ignore[no-any-return]


async def staff_alerts(conn: Connection, staff_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    """One person's alerts, unread first, then newest."""
    return await conn.fetch(_STAFF_ALERTS, staff_id, limit)  # type: ignore[no-any-return]


async def mark_read(
    conn: Connection, school_id: uuid.UUID, alert_id: uuid.UUID, recipient: str
) -> asyncpg.Record | None:
    """Marks the alert read if `recipient` (the school's staff id) is the one it was sent to;
    None when it was not (or does not exist)."""
    return await conn.fetchrow(_MARK_READ, alert_id, school_id, recipient)


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
