"""Appending an action (a follow-up) to an incident: the only way a record changes.

The action, its named staff and its outbox event are written by one statement, and the
author's own alerts about the incident are marked actioned in the same transaction, before
the caller answers. The statement always returns the lookup verdict, so the caller can name
the field that failed.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.records.inputs import ActionInput
from shared import alerts
from shared.database import Connection

_RECORD = """
WITH incident AS (
    SELECT id, restricted FROM incidents WHERE school_id = $1 AND id = $2),
author AS (
    SELECT id, active FROM staff WHERE school_id = $1 AND external_id = $3),
alerted AS (
    SELECT x.ext, s.id FROM unnest($4::text[]) AS x(ext)
    LEFT JOIN staff s ON s.school_id = $1 AND s.external_id = x.ext AND s.active),
verdict AS (
    SELECT (SELECT id FROM incident) AS incident_id,
           coalesce((SELECT restricted FROM incident), false) AS restricted,
           (SELECT id FROM author WHERE active) AS author_id,
           EXISTS (SELECT FROM author) AS author_known,
           ARRAY(SELECT ext FROM alerted WHERE id IS NULL) AS unknown_staff),
action AS (
    INSERT INTO actions (school_id, incident_id, author_id, description, api_key_id,
                         idempotency_key, request_hash)
    SELECT $1, incident_id, author_id, $5, $6, $7, $8 FROM verdict
    WHERE incident_id IS NOT NULL AND author_id IS NOT NULL AND unknown_staff = '{}'
    ON CONFLICT (school_id, idempotency_key) DO NOTHING
    RETURNING id, incident_id, author_id, recorded_at),
s AS (INSERT INTO action_alert_staff (school_id, action_id, staff_id)
      SELECT $1, action.id, alerted.id FROM action, alerted),
event AS (
    INSERT INTO alert_events (school_id, kind, incident_id, action_id, priority)
    SELECT $1, 'action', action.incident_id, action.id,
           CASE WHEN verdict.restricted THEN 1 ELSE 0 END
    FROM action, verdict RETURNING id)
SELECT verdict.*, action.id AS action_id, action.recorded_at,
       (SELECT id FROM event) AS event_id
FROM verdict LEFT JOIN action ON true
"""

_BY_KEY = """
SELECT a.id, a.incident_id, a.request_hash, s.external_id AS author, a.description,
       a.recorded_at,
       ARRAY(SELECT st.external_id FROM action_alert_staff x JOIN staff st ON st.id = x.staff_id
             WHERE x.action_id = a.id ORDER BY st.external_id) AS alert_staff
FROM actions a JOIN staff s ON s.id = a.author_id
WHERE a.school_id = $1 AND a.idempotency_key = $2
"""


async def record_action(
    conn: Connection,
    school_id: uuid.UUID,
    api_key_id: uuid.UUID | None,
    incident_id: uuid.UUID,
    data: ActionInput,
    key: str | None,
    digest: bytes | None,
) -> asyncpg.Record:
    async with conn.transaction():
        row = await conn.fetchrow(
            _RECORD,
            school_id,
            incident_id,
            data.author,
            data.alert_staff,
            data.description,
            api_key_id,
            key,
            digest,
            timeout=STATEMENT_TIMEOUT,
        )
        assert row is not None  # the verdict: always one row
        if row["action_id"] is not None:
            await alerts.mark_actioned(conn, incident_id, row["author_id"])
    return row


async def find_by_key(conn: Connection, school_id: uuid.UUID, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_BY_KEY, school_id, key, timeout=STATEMENT_TIMEOUT)
