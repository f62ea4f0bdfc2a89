"""Who has been told, and who has read and acted (issue 3 contract, on the notifier's port).

    GET  /v1/incidents/{id}/alerts     every recipient with state and timestamps
    GET  /v1/staff/{staff_id}/alerts   one person's alerts, unread first, then newest
    POST /v1/alerts/{id}/read          {"staff": "S01"} marks read; idempotent

Each takes an API key or a staff session (services.ingest.staff.auth) and obeys shared.access:
an incident's alerts are shown to whoever may view the incident; a session sees and marks only
its own alerts (an API key acts for any staff member of its school). Anything denied answers
404 exactly like a missing id, so nothing leaks about what exists. Reading sets `read_at`
beside the delivery state and never touches access grants.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from services.ingest import fields
from services.ingest.staff import auth
from services.ingest.staff.auth import Caller
from shared import access
from shared.problems import InvalidInput, MalformedRequest, NotFound
from shared.web import PG

STAFF_LIST_LIMIT = 200

# Written out in full (no string building) so every statement reads as what runs.
_INCIDENT_ALERTS = """
SELECT a.id, s.external_id AS recipient, e.kind AS event, a.state, a.queued_at, a.sent_at,
       a.read_at, a.actioned_at, a.error
FROM alerts a JOIN staff s ON s.id = a.recipient_id JOIN alert_events e ON e.id = a.event_id
WHERE a.incident_id = $1 AND a.school_id = $2
ORDER BY a.queued_at, e.id, s.external_id"""

_STAFF_ALERTS = """
SELECT a.id, s.external_id AS recipient, e.kind AS event, a.state, a.queued_at, a.sent_at,
       a.read_at, a.actioned_at, a.error
FROM alerts a JOIN staff s ON s.id = a.recipient_id JOIN alert_events e ON e.id = a.event_id
WHERE a.recipient_id = $1
ORDER BY a.read_at IS NOT NULL, a.queued_at DESC, a.id
LIMIT $2"""

# The first read_at is kept; joining the recipient by external id means only they can mark it.
_MARK_READ = """
UPDATE alerts a SET read_at = coalesce(a.read_at, now())
FROM staff s, alert_events e
WHERE a.id = $1 AND a.school_id = $2 AND s.id = a.recipient_id AND s.external_id = $3
  AND e.id = a.event_id
RETURNING a.id, s.external_id AS recipient, e.kind AS event, a.state, a.queued_at, a.sent_at,
          a.read_at, a.actioned_at, a.error"""


def setup(app: web.Application) -> None:
    """The routes; the app must have the staff state installed (auth.caller needs it)."""
    app.router.add_get("/v1/incidents/{id}/alerts", incident_alerts)
    app.router.add_get("/v1/staff/{staff_id}/alerts", staff_alerts)
    app.router.add_post("/v1/alerts/{id}/read", mark_read)


async def incident_alerts(request: web.Request) -> web.Response:
    who = await auth.caller(request)
    incident_id = _uuid(request.match_info["id"], "incident")
    async with request.app[PG].acquire() as conn:
        await auth.visible_or_404(conn, who, incident_id)
        rows = await conn.fetch(_INCIDENT_ALERTS, incident_id, who.school_id)
    return web.json_response([_alert(r) for r in rows])


async def staff_alerts(request: web.Request) -> web.Response:
    who = await auth.caller(request)
    async with request.app[PG].acquire() as conn:
        staff_id = await conn.fetchval(
            "SELECT id FROM staff WHERE school_id = $1 AND external_id = $2",
            who.school_id,
            fields.path_key(request.match_info["staff_id"], "staff member"),
        )
        if staff_id is None or not access.can_view_staff_alerts(
            await auth.viewer(conn, who), who.school_id, staff_id
        ):
            raise NotFound("No such staff member.")
        rows = await conn.fetch(_STAFF_ALERTS, staff_id, STAFF_LIST_LIMIT)
    return web.json_response([_alert(r) for r in rows])


async def mark_read(request: web.Request) -> web.Response:
    """The recipient is named by the body (API key) or is the session's own staff member; the
    guarded update only matches an alert sent to them, so anyone else's answers 404."""
    who = await auth.caller(request)
    alert_id = _uuid(request.match_info["id"], "alert")
    body = await _json_object(request) if request.body_exists else {}
    async with request.app[PG].acquire() as conn:
        staff = await _reader(conn, who, body)
        row = await conn.fetchrow(_MARK_READ, alert_id, who.school_id, staff)
    if row is None:
        raise NotFound("No such alert for this staff member.")
    return web.json_response(_alert(row))


async def _reader(conn: asyncpg.Connection, who: Caller, body: dict[str, Any]) -> str:
    if who.session is None:
        return _staff_field(body)
    own, _ = await auth.own_identity(conn, who.session)
    return auth.acting_as(body.get("staff"), own, "staff")


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No such {what}.") from None


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MalformedRequest("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The body must be a JSON object.")
    return body


def _staff_field(body: dict[str, Any]) -> str:
    staff = body.get("staff")
    if (
        not isinstance(staff, str)
        or not staff.strip()
        or len(staff) > 200
        or not fields.storable(staff)
    ):
        raise InvalidInput('Name the staff member reading the alert, e.g. "S01".', field="staff")
    return staff.strip()


def _alert(row: asyncpg.Record) -> dict[str, Any]:
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
