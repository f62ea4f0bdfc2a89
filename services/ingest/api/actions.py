"""POST /v1/incidents/{id}/actions: append an action (services.ingest.records.actions), stored
before the 201, then ring the worker."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.api import idempotency
from services.ingest.api.bodies import read_json
from services.ingest.api.context import caller, database, path_id, session_author, state
from services.ingest.api.incidents import (
    audit_view,
    caller_id,
    refuse_author,
    refuse_naming,
    refuse_unknown,
)
from services.ingest.api.representation import new_action, stored_action
from services.ingest.records import actions
from services.ingest.records.inputs import parse_action
from shared.auth import scopes
from shared.auth.caller import Caller, visible_or_404
from shared.database import Connection
from shared.problems import Conflict, NotFound


async def post_action(request: web.Request) -> web.Response:
    ingest = state(request)
    who = await caller(request)
    scopes.require(who, scopes.INCIDENTS_WRITE)
    incident_id = path_id(request, "incident_id")
    key = idempotency.key_from(request)
    body = await read_json(request, ingest.settings.max_body_bytes)
    if who.session is not None:
        body = await session_author(request, who, body, incident_id)
    data = parse_action(body)
    scopes.require_author(who, data.author)
    digest = None if key is None else idempotency.request_hash(f"action:{incident_id}", body)
    async with database(request) as conn:
        row = await actions.record_action(
            conn,
            who.school_id,
            who.api_key_id,
            incident_id,
            data,
            key,
            digest,
            scopes.may_restrict(who),
        )
        if row["action_id"] is None:
            _refuse(row)
            return await _replay(conn, request, who, key, digest)
    if ingest.worker_bell is not None:
        ingest.worker_bell.ring(row["event_id"], urgent=row["restricted"])
    return web.json_response(new_action(row, incident_id, data), status=201)


def _refuse(verdict: asyncpg.Record) -> None:
    if verdict["incident_id"] is None:
        raise NotFound("No such incident in this school.")
    refuse_author(verdict)
    refuse_unknown(verdict["unknown_staff"], "alert_staff", "staff member")
    refuse_naming(verdict)


async def _replay(
    conn: Connection, request: web.Request, who: Caller, key: str | None, digest: bytes | None
) -> web.Response:
    """The caller's own action under that key, while they may still see its incident."""
    existing = None
    if key is not None:
        existing = await actions.find_by_key(conn, who.school_id, key, caller_id(who))
    if existing is None:
        raise Conflict("The action could not be recorded; retry.")
    if bytes(existing["request_hash"]) != digest:
        raise idempotency.mismatch()
    async with conn.transaction():
        await visible_or_404(conn, who, existing["incident_id"])
        await audit_view(
            conn, request, who, existing["incident_id"], replay="action", action=str(existing["id"])
        )
    return web.json_response(
        stored_action(existing, existing["incident_id"]),
        status=200,
        headers={"Idempotent-Replayed": "true"},
    )
