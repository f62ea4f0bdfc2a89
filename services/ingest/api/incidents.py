"""Recording and reading incidents.

POST is durable before it is acknowledged: the incident, its children and its outbox event
are written by one statement (see incident_queries) before the 201; the worker bell rings after.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
from aiohttp import web

from services.ingest.api import idempotency
from services.ingest.api.bodies import read_json
from services.ingest.api.context import (
    caller,
    database,
    path_id,
    recording_target,
    session_author,
    state,
)
from services.ingest.api.representation import incident_path, new_incident, stored_incident
from services.ingest.records import incidents as queries
from services.ingest.records.inputs import parse_incident
from shared import audit
from shared.auth import scopes
from shared.auth.caller import Caller, client_ip, visible_or_404
from shared.database import Connection
from shared.problems import Conflict, Forbidden, InvalidInput, NotFound


async def post_incident(request: web.Request) -> web.Response:
    ingest = state(request)
    who = await caller(request)
    scopes.require(who, scopes.INCIDENTS_WRITE)
    key = idempotency.key_from(request)
    body = await read_json(request, ingest.settings.max_body_bytes)
    if who.session is not None:
        body = await session_author(request, who, body)
    data = parse_incident(body, now=dt.datetime.now(dt.UTC))
    scopes.require_author(who, data.author)
    digest = None if key is None else idempotency.request_hash("incident", body)
    recording = queries.recording(
        who.school_id, who.api_key_id, data, key, digest, scopes.may_restrict(who)
    )
    row = await ingest.recorder.record(recording_target(request, who.school_id), recording)
    if row["incident_id"] is None:
        if row["restricted_refused"]:
            raise scopes.missing(scopes.RESTRICTED, field="categories")
        refuse(row)
        # Everything checked out but the insert did nothing: the Idempotency-Key exists.
        async with database(request) as conn:
            return await replay(conn, request, who, key, digest)
    if ingest.worker_bell is not None:
        ingest.worker_bell.ring(row["event_id"], urgent=row["restricted"])
    return web.json_response(
        new_incident(row, data), status=201, headers={"Location": incident_path(row["incident_id"])}
    )


def refuse(verdict: asyncpg.Record) -> None:
    """Raise the problem for the first lookup that failed; return if none did."""
    refuse_author(verdict)
    if verdict["pupil_id"] is None:
        raise InvalidInput("Unknown pupil.", field="pupil")
    if not verdict["pupil_active"]:
        raise InvalidInput("The pupil is no longer on roll (inactive).", field="pupil")
    refuse_unknown(verdict["unknown_linked"], "linked_pupils", "pupil")
    refuse_unknown(verdict["unknown_categories"], "categories", "category")
    if verdict["restricted"] and not verdict["privileged"]:
        raise Forbidden(
            "Only DSL, SLT, head, deputy DSL or pastoral staff may record restricted categories.",
            field="categories",
        )
    refuse_unknown(verdict["unknown_staff"], "alert_staff", "staff member")
    refuse_naming(verdict)


def refuse_naming(verdict: asyncpg.Record) -> None:
    """Naming someone on a restricted record gives them access to it: only those who may
    grant need-to-know access (DSL, deputy DSL, SLT, head, pastoral) name anyone there."""
    if verdict["naming_refused"]:
        raise InvalidInput(
            "Only DSL, deputy DSL, SLT, head or pastoral staff may name staff on a restricted "
            "incident: naming someone gives them access to it.",
            field="alert_staff",
        )


def caller_id(who: Caller) -> uuid.UUID:
    """Whose an Idempotency-Key is: the API key's, or the member of staff's."""
    found = who.api_key_id or who.staff_id
    assert found is not None  # noqa: S101 (a caller is one or the other)
    return found


def refuse_author(verdict: asyncpg.Record) -> None:
    if verdict["author_id"] is None:
        known = "inactive" if verdict["author_known"] else "unknown"
        raise InvalidInput(f"The author is an {known} staff member of this school.", field="author")


def refuse_unknown(values: list[str], field: str, what: str) -> None:
    if values:
        raise InvalidInput(
            f"Unknown or inactive {what}: {', '.join(values)}.", field=field, unknown=list(values)
        )


async def replay(
    conn: Connection, request: web.Request, who: Caller, key: str | None, digest: bytes | None
) -> web.Response:
    """The caller's own incident under that key, as a view: only while they may still see it
    (404 as for a missing one), and audited like any other view."""
    existing = None
    if key is not None:
        existing = await queries.find_by_key(conn, who.school_id, key, caller_id(who))
    if existing is None:
        raise Conflict("The incident could not be recorded; retry.")
    if bytes(existing["request_hash"]) != digest:
        raise idempotency.mismatch()
    async with conn.transaction():
        await visible_or_404(conn, who, existing["id"])
        body = await _load(conn, who, existing["id"])
        await audit_view(conn, request, who, existing["id"], replay="incident")
    return web.json_response(
        body,
        status=200,
        headers={"Location": incident_path(existing["id"]), "Idempotent-Replayed": "true"},
    )


async def get_incident(request: web.Request) -> web.Response:
    """Need-to-know first (not-yours answers 404, as missing does); the view and its audit
    entry commit together, so no incident is ever shown unrecorded."""
    who = await caller(request)
    scopes.require(who, scopes.INCIDENTS_READ)
    incident_id = path_id(request, "incident_id")
    async with database(request) as conn, conn.transaction():
        await visible_or_404(conn, who, incident_id)
        body = await _load(conn, who, incident_id)
        await audit_view(conn, request, who, incident_id)
    return web.json_response(body)


async def audit_view(
    conn: Connection,
    request: web.Request,
    who: Caller,
    incident_id: uuid.UUID,
    **detail: str,
) -> None:
    await audit.append(
        conn,
        school_id=who.school_id,
        actor_staff_id=who.staff_id,
        actor_api_key_id=who.api_key_id,
        action="incident.view",
        subject_type="incident",
        subject_id=incident_id,
        ip=client_ip(request),
        detail=detail,
    )


async def _load(conn: Connection, who: Caller, incident_id: uuid.UUID) -> dict[str, object]:
    """The incident as the caller may read it: an API key gets only its own actions and files
    (what the school's staff added is theirs to read)."""
    row = await queries.fetch_incident(conn, who.school_id, incident_id)
    if row is None:
        raise NotFound("No such incident in this school.")
    actions = await queries.fetch_actions(conn, who.school_id, incident_id, who.api_key_id)
    files = await queries.fetch_files(conn, who.school_id, incident_id, who.api_key_id)
    return stored_incident(row, actions, files)
