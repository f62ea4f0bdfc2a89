"""GET /v1/pupils/{id}/chronology: a pupil's incidents and actions in time order.

Every entry passes shared.access first: what a viewer may not see is left out entirely (a
teacher's chronology has no trace of a restricted incident), and every view is audited.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from shared import access, audit, fields
from shared.auth.caller import caller, client_ip, viewer
from shared.database import Connection
from shared.problems import NotFound
from shared.web import request_pool

_INCIDENTS = """
SELECT i.id, i.reference, i.occurred_at, i.recorded_at, i.description, i.restricted,
       p.external_id AS pupil, a.external_id AS author,
       ARRAY(SELECT c.category_slug FROM incident_categories c WHERE c.incident_id = i.id
             ORDER BY c.category_slug) AS categories
FROM incidents i JOIN pupils p ON p.id = i.pupil_id JOIN staff a ON a.id = i.author_id
WHERE i.id = ANY($1::uuid[])
"""

_ACTIONS = """
SELECT x.id, x.incident_id, x.recorded_at, x.description, a.external_id AS author
FROM actions x JOIN staff a ON a.id = x.author_id
WHERE x.incident_id = ANY($1::uuid[])
"""


async def get_chronology(request: web.Request) -> web.Response:
    who = await caller(request)
    async with request_pool(request).acquire() as conn:
        v = await viewer(conn, who)
        pupil_id = await conn.fetchval(
            "SELECT id FROM pupils WHERE school_id = $1 AND external_id = $2",
            who.school_id,
            fields.path_key(request.match_info["pupil_id"], "pupil"),
        )
        if pupil_id is None or not access.can_view_pupil(v, who.school_id, pupil_id):
            raise NotFound("No such pupil.")
        facts = await access.pupil_incident_facts(conn, who.school_id, pupil_id)
        shown = [f.id for f in access.visible_incidents(v, facts)]
        entries = await _entries(conn, shown)
        await audit.append(
            conn,
            school_id=who.school_id,
            actor_staff_id=who.staff_id,
            actor_api_key_id=who.api_key_id,
            action="chronology.view",
            subject_type="pupil",
            subject_id=pupil_id,
            ip=client_ip(request),
            detail={"incidents": [str(i) for i in shown]},
        )
    return web.json_response(entries)


async def _entries(conn: Connection, incident_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    if not incident_ids:
        return []
    entries = [_incident(r) for r in await conn.fetch(_INCIDENTS, incident_ids)]
    entries += [_action(r) for r in await conn.fetch(_ACTIONS, incident_ids)]
    entries.sort(key=lambda e: (e["at"], e["kind"] == "action", e["id"]))
    return entries


def _incident(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "kind": "incident",
        "id": str(r["id"]),
        "reference": r["reference"],
        "at": r["occurred_at"].isoformat(),
        "recorded_at": r["recorded_at"].isoformat(),
        "pupil": r["pupil"],
        "author": r["author"],
        "categories": list(r["categories"]),
        "restricted": r["restricted"],
        "description": r["description"],
    }


def _action(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "kind": "action",
        "id": str(r["id"]),
        "incident": str(r["incident_id"]),
        "at": r["recorded_at"].isoformat(),
        "author": r["author"],
        "description": r["description"],
    }
