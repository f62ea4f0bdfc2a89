"""Appending an action (a follow-up) to an incident: the only way a record changes.

Like an incident, the action, its named staff, its outbox event, and the `actioned_at` mark on
the author's own alerts for that incident are written by one statement before the 201.
"""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.ingest import idempotency
from services.ingest.bodies import read_json
from services.ingest.context import caller, database, path_id, session_author, state
from services.ingest.incident_queries import STATEMENT_TIMEOUT
from services.ingest.incidents import refuse_author, refuse_unknown
from services.ingest.representation import new_action, stored_action
from services.ingest.staff.auth import Caller
from services.ingest.validation import ActionInput, parse_action
from shared.problems import Conflict, NotFound

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
actioned AS (
    UPDATE alerts SET actioned_at = now() FROM action
    WHERE alerts.incident_id = action.incident_id AND alerts.recipient_id = action.author_id
      AND alerts.actioned_at IS NULL
    RETURNING alerts.id),
event AS (
    INSERT INTO alert_events (school_id, kind, incident_id, action_id, priority)
    SELECT $1, 'action', action.incident_id, action.id,
           CASE WHEN verdict.restricted THEN 1 ELSE 0 END
    FROM action, verdict RETURNING id)
SELECT verdict.*, action.id AS action_id, action.recorded_at,
       (SELECT id FROM event) AS event_id, (SELECT count(*) FROM actioned) AS actioned
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
    conn: asyncpg.Connection,
    who: Caller,
    incident_id: uuid.UUID,
    data: ActionInput,
    key: str | None,
    digest: bytes | None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        _RECORD,
        who.school_id,
        incident_id,
        data.author,
        data.alert_staff,
        data.description,
        who.api_key_id,
        key,
        digest,
        timeout=STATEMENT_TIMEOUT,
    )


async def post_action(request: web.Request) -> web.Response:
    ingest = state(request)
    who = await caller(request)
    incident_id = path_id(request, "incident_id")
    key = idempotency.key_from(request)
    body = await read_json(request, ingest.settings.max_body_bytes)
    if who.session is not None:
        body = await session_author(request, who, body, incident_id)
    data = parse_action(body)
    digest = None if key is None else idempotency.request_hash(f"action:{incident_id}", body)
    async with database(request) as conn:
        row = await record_action(conn, who, incident_id, data, key, digest)
        if row["action_id"] is None:
            _refuse(row)
            return await _replay(conn, who, key, digest)
    if ingest.doorbell is not None:
        ingest.doorbell.ring(row["event_id"], urgent=row["restricted"])
    return web.json_response(new_action(row, incident_id, data), status=201)


def _refuse(verdict: asyncpg.Record) -> None:
    if verdict["incident_id"] is None:
        raise NotFound("No such incident in this school.")
    refuse_author(verdict)
    refuse_unknown(verdict["unknown_staff"], "alert_staff", "staff member")


async def _replay(
    conn: asyncpg.Connection, who: Caller, key: str | None, digest: bytes | None
) -> web.Response:
    existing = (
        None
        if key is None
        else await conn.fetchrow(_BY_KEY, who.school_id, key, timeout=STATEMENT_TIMEOUT)
    )
    if existing is None:
        raise Conflict("The action could not be recorded; retry.")
    if bytes(existing["request_hash"]) != digest:
        raise idempotency.mismatch()
    return web.json_response(
        stored_action(existing, existing["incident_id"]),
        status=200,
        headers={"Idempotent-Replayed": "true"},
    )
