"""The alert email's link and "My alerts".

    /alerts/{id}  signed out: to sign in and back; the recipient: marked read, then the
                  incident; anyone else: 404, exactly like an alert that does not exist.
    /             the signed-in person's alerts, unread first, paged, with counts.
A recipient who may not see an incident right now (a DSL before elevating) sees its reference
and state only, never the pupil.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared import access, alerts, audit
from shared.access import IncidentFacts, Viewer
from shared.auth.caller import client_ip
from shared.problems import NotFound
from shared.web import request_pool


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/", my_alerts)
    r.add_get("/alerts/{alert_id}", open_alert)


async def open_alert(request: web.Request) -> web.StreamResponse:
    s = await guard.staff_session(request)
    try:
        alert_id = uuid.UUID(request.match_info["alert_id"])
    except ValueError:
        raise NotFound("No such alert.") from None
    async with request_pool(request).acquire() as conn, conn.transaction():
        incident_id = await alerts.open_own_alert(conn, alert_id, s.staff_id)
        if incident_id is None:
            raise NotFound("No such alert.")
        await audit.append(
            conn,
            school_id=s.school_id,
            actor_staff_id=s.staff_id,
            action="alert.read",
            subject_type="alert",
            subject_id=alert_id,
            ip=client_ip(request),
        )
    raise web.HTTPSeeOther(f"/incidents/{incident_id}")


async def my_alerts(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    page = _page_number(request.query.get("page"))
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = guard.viewer(request)
        rows = await alerts.inbox(conn, s.staff_id, page)
        viewer = await access.with_incident_grants(conn, viewer, (r["incident_id"] for r in rows))
        counts = await alerts.inbox_counts(conn, s.staff_id)
    total = counts["new"] + counts["read"] + counts["actioned"]
    pages = max(1, -(-total // alerts.INBOX_PAGE_SIZE))
    context = {
        "alerts": [_shown(viewer, r) for r in rows],
        "counts": counts,
        "page": min(page, pages),
        "pages": pages,
    }
    return render(request, "my_alerts.html", context, s)


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or "1"), 100_000))
    except ValueError:
        return 1


def _shown(viewer: Viewer, row: asyncpg.Record) -> dict[str, Any]:
    facts = IncidentFacts(
        id=row["incident_id"],
        school_id=viewer.school_id,
        pupil_id=row["pupil_id"],
        restricted=row["restricted"],
        linked_pupil_ids=frozenset(row["linked"]),
    )
    visible = access.can_view_incident(viewer, facts)
    return {
        "id": row["id"],
        "incident_id": row["incident_id"],
        "reference": row["reference"],
        "event": row["event"],
        "visible": visible,
        "pupil": row["pupil"] if visible else None,
        "categories": row["categories"] if visible else list(row["groups"]),
        "raised_by": row["raised_by"] if visible else None,
        "queued_at": row["queued_at"],
        "occurred_at": row["occurred_at"],
        "state": alerts.reading_state(row),
    }
