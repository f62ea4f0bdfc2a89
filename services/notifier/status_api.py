"""Who has been told, and who has read and acted (on the notifier's port; the
contract other apps rely on).

    GET  /v1/incidents/{id}/alerts     every recipient with state and timestamps
    GET  /v1/staff/{staff_id}/alerts   one person's alerts, unread first, then newest, a page
                                       at a time: ?page=1&per_page=50 (at most 200); the
                                       next page, if any, in `Link: <...>; rel="next"`
    POST /v1/alerts/{id}/read          {"staff": "S01"} marks read; idempotent

Each takes an API key or a staff session (shared.auth.caller) and obeys shared.access:
an incident's alerts are shown to whoever may view the incident (a key: `alerts:read`, for
incidents it posted); a session sees and marks only its own alerts, and only a staff app's key
(`alerts:staff`) lists and marks them for any member of its school, each read counting as that
member's own. A key without the scope gets 403 naming it. Anything else denied answers
404 exactly like a missing id, so nothing leaks about what exists. Reading sets `read_at`
beside the delivery state and never touches access grants. Every view and read is audited
("alerts.view_incident", "alerts.view_staff", "alert.read") in the same transaction as it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from shared import access, alerts, audit, fields, paging
from shared.auth import caller as auth
from shared.auth import scopes
from shared.auth.caller import Caller, client_ip
from shared.database import Connection
from shared.problems import InvalidInput, MalformedRequest, NotFound
from shared.web import request_pool

# A page of one person's alerts: `per_page` by default, never more than the maximum (a larger
# per_page is cut to it), so no request reads an unbounded list.
STAFF_PAGE_DEFAULT = 50
STAFF_PAGE_MAX = 200


def setup(app: web.Application) -> None:
    """The routes; the app must have the staff state installed (auth.caller needs it)."""
    app.router.add_get("/v1/incidents/{id}/alerts", incident_alerts)
    app.router.add_get("/v1/staff/{staff_id}/alerts", staff_alerts)
    app.router.add_post("/v1/alerts/{id}/read", mark_read)


async def incident_alerts(request: web.Request) -> web.Response:
    who = await auth.caller(request)
    scopes.require(who, scopes.ALERTS_READ)
    incident_id = _uuid(request.match_info["id"], "incident")
    async with request_pool(request).acquire() as conn, conn.transaction():
        await auth.visible_or_404(conn, who, incident_id)
        rows = await alerts.incident_alerts(conn, who.school_id, incident_id)
        await _audit(conn, request, who, "alerts.view_incident", "incident", incident_id)
    return web.json_response([alerts.alert_json(r) for r in rows])


async def staff_alerts(request: web.Request) -> web.Response:
    who = await auth.caller(request)
    scopes.require(who, scopes.ALERTS_STAFF)
    async with request_pool(request).acquire() as conn, conn.transaction():
        staff_id = await conn.fetchval(
            "SELECT id FROM staff WHERE school_id = $1 AND external_id = $2",
            who.school_id,
            fields.path_key(request.match_info["staff_id"], "staff member"),
        )
        if staff_id is None or not access.can_view_staff_alerts(
            await auth.viewer(conn, who), who.school_id, staff_id
        ):
            raise NotFound("No such staff member.")
        page, per_page = paging.page_args(request, STAFF_PAGE_DEFAULT, STAFF_PAGE_MAX)
        # One row more than the page says whether there is a next one, without a count.
        rows = await alerts.staff_alerts(conn, staff_id, per_page + 1, (page - 1) * per_page)
        await _audit(conn, request, who, "alerts.view_staff", "staff", staff_id, page=str(page))
    headers = paging.links(request, page, per_page, more=len(rows) > per_page)
    return web.json_response([alerts.alert_json(r) for r in rows[:per_page]], headers=headers)


async def mark_read(request: web.Request) -> web.Response:
    """The recipient is named by the body (API key) or is the session's own staff member; the
    guarded update only matches an alert sent to them, so anyone else's answers 404."""
    who = await auth.caller(request)
    scopes.require(who, scopes.ALERTS_STAFF)
    alert_id = _uuid(request.match_info["id"], "alert")
    body = await _json_object(request) if request.body_exists else {}
    async with request_pool(request).acquire() as conn, conn.transaction():
        staff = await _reader(conn, who, body)
        # A session, or a staff app's key showing the member their own alert: their read.
        row = await alerts.mark_read(conn, who.school_id, alert_id, staff, by_recipient=True)
        if row is None:
            raise NotFound("No such alert for this staff member.")
        await _audit(conn, request, who, "alert.read", "alert", alert_id, staff=staff)
    return web.json_response(alerts.alert_json(row))


async def _audit(
    conn: Connection,
    request: web.Request,
    who: Caller,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID,
    **detail: str,
) -> None:
    """In the read's own transaction: nothing is shown or marked unrecorded."""
    await audit.append(
        conn,
        school_id=who.school_id,
        actor_staff_id=who.staff_id,
        actor_api_key_id=who.api_key_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        ip=client_ip(request),
        detail=detail,
    )


async def _reader(conn: Connection, who: Caller, body: dict[str, Any]) -> str:
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
