"""Appending an action (a follow-up) to an incident: the only way a record changes.

The action, its named staff and its outbox event are written by one statement, and the
author's own alerts about the incident are marked actioned in the same transaction, before
the caller answers. The statement always returns the lookup verdict, so the caller can name
the field that failed.

An API key acts only on incidents it posted itself (restricted ones only with the `restricted`
scope): any other is not found. On a restricted incident only an author who may grant
need-to-know access (DSL, deputy DSL, SLT, head, pastoral) may name staff (`naming_refused`).
"""

from __future__ import annotations

import uuid

import asyncpg

from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.records.inputs import ActionInput
from shared import alerts
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES

_RECORD = """
WITH incident AS (
    SELECT id, restricted FROM incidents WHERE school_id = $1 AND id = $2
      AND ($6::uuid IS NULL OR (api_key_id = $6 AND (NOT restricted OR $9::boolean)))),
author AS (
    SELECT id, active, roles && $10::text[] AS privileged FROM staff
    WHERE school_id = $1 AND external_id = $3),
alerted AS (
    SELECT x.ext, s.id FROM unnest($4::text[]) AS x(ext)
    LEFT JOIN staff s ON s.school_id = $1 AND s.external_id = x.ext AND s.active),
verdict AS (
    SELECT (SELECT id FROM incident) AS incident_id,
           coalesce((SELECT restricted FROM incident), false) AS restricted,
           (SELECT id FROM author WHERE active) AS author_id,
           EXISTS (SELECT FROM author) AS author_known,
           ARRAY(SELECT ext FROM alerted WHERE id IS NULL) AS unknown_staff,
           coalesce((SELECT restricted FROM incident), false) AND cardinality($4::text[]) > 0
             AND NOT coalesce((SELECT privileged FROM author), false) AS naming_refused),
action AS (
    INSERT INTO actions (school_id, incident_id, author_id, description, api_key_id,
                         idempotency_key, request_hash)
    SELECT $1, incident_id, author_id, $5, $6, $7, $8 FROM verdict
    WHERE incident_id IS NOT NULL AND author_id IS NOT NULL AND unknown_staff = '{}'
      AND NOT naming_refused
    ON CONFLICT (school_id, (coalesce(api_key_id, author_id)), idempotency_key) DO NOTHING
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
WHERE a.school_id = $1 AND a.idempotency_key = $2 AND coalesce(a.api_key_id, a.author_id) = $3
"""

_PRIVILEGED = sorted(PRIVILEGED_ROLES)


async def record_action(
    conn: Connection,
    school_id: uuid.UUID,
    api_key_id: uuid.UUID | None,
    incident_id: uuid.UUID,
    data: ActionInput,
    key: str | None,
    digest: bytes | None,
    may_restrict: bool = True,
) -> asyncpg.Record:
    """`api_key_id`: the key posting it (None for staff, who are checked before); with
    `may_restrict` False the key does not find a restricted incident."""
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
            may_restrict,
            _PRIVILEGED,
            timeout=STATEMENT_TIMEOUT,
        )
        assert row is not None  # the verdict: always one row
        if row["action_id"] is not None:
            await alerts.mark_actioned(conn, incident_id, row["author_id"])
    return row


async def find_by_key(
    conn: Connection, school_id: uuid.UUID, key: str, caller_id: uuid.UUID
) -> asyncpg.Record | None:
    """The caller's action under that key (the API key's id, or a session's staff id)."""
    return await conn.fetchrow(_BY_KEY, school_id, key, caller_id, timeout=STATEMENT_TIMEOUT)
