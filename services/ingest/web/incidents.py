"""Recording a concern and the incident page, over the same use cases as the JSON API.

/incidents/new                 any member of staff (no elevation): the form, and recording
                               it (multipart: files); a hidden idempotency key makes a
                               double submit record one incident; then to the incident.
/incidents/{id}                whoever may see it (shared.access; 404 otherwise), audited
                               as every view is; nothing on it edits what was recorded.
/incidents/{id}/actions        appends an action (the author's alerts become actioned).
/incidents/{id}/restrict       DSL, SLT and pastoral, elevated: moves the incident into a
                               restricted category, as an appended and audited action.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from multidict import MultiDict

from services.ingest.api.context import INGEST
from services.ingest.api.idempotency import request_hash
from services.ingest.api.incidents import refuse, refuse_author, refuse_naming, refuse_unknown
from services.ingest.records import incident_views as views
from services.ingest.records.actions import record_action
from services.ingest.records.files import Upload, attach_file
from services.ingest.records.incidents import (
    authored_reference,
    find_by_key,
    record_incident,
    recording,
)
from services.ingest.records.inputs import parse_action, parse_incident
from services.ingest.records.moves import move_into_restricted
from services.ingest.web import concern_form as concern
from services.ingest.web import guard, uploads
from services.ingest.web.rendering import render
from services.ingest.web.uploads import Posted
from shared import access, audit
from shared.auth.caller import client_ip
from shared.auth.sessions import Session
from shared.database import Connection
from shared.problems import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from shared.web import request_pool


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/incidents/new", new_concern)
    r.add_post("/incidents/new", record_concern)
    r.add_get("/incidents/{incident_id}", incident_page)
    r.add_post("/incidents/{incident_id}/actions", add_action)
    r.add_post("/incidents/{incident_id}/restrict", restrict)


def _checked(s: Session, posted: Posted) -> None:
    guard.check_form(posted.form, s)


def _max_file_bytes(request: web.Request) -> int:
    return request.app[INGEST].settings.max_file_bytes


def _files_dir(request: web.Request) -> str:
    return request.app[INGEST].settings.files_dir


def _ring(request: web.Request, event_id: int | None, *, urgent: bool) -> None:
    bell = request.app[INGEST].worker_bell
    if bell is not None and event_id is not None:
        bell.ring(event_id, urgent=urgent)


def _incident_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["incident_id"])
    except ValueError:
        raise NotFound("No such incident.") from None


# -- Record a concern --------------------------------------------------------------------------


async def new_concern(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    values = concern.defaults(request.query.get("pupil", ""), request.query.get("q", ""))
    async with request_pool(request).acquire() as conn:
        me = concern.recorder(request)
        context = await concern.form_context(conn, s, me, values, {})
        banner = await _recorded_unseen(conn, s, request.query.get("recorded", ""))
    return render(request, "record_concern.html", {**context, "banner": banner}, s)


async def _recorded_unseen(conn: Connection, s: Session, incident: str) -> str:
    """The confirmation for a concern its author may not read (say, about a pupil they do not
    teach): its reference, shown to its author only."""
    try:
        incident_id = uuid.UUID(incident)
    except ValueError:
        return ""
    reference = await authored_reference(conn, s.school_id, incident_id, s.staff_id)
    if reference is None:
        return ""
    return (
        f"Concern recorded. Its reference is #{reference}. It is not shown to you: only staff "
        "who need to know can open it, and the school's alert rules decide who is told."
    )


async def record_concern(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    posted = await uploads.read_form(request, _max_file_bytes(request))
    _checked(s, posted)
    values = concern.values_of(posted.form)
    now = dt.datetime.now(dt.UTC)
    async with request_pool(request).acquire() as conn:
        me = concern.recorder(request)
        errors, occurred = concern.check(values, posted, now)
        if not errors:
            body, rows = concern.body_of(values, me, occurred)
            try:
                recorded = await _record(request, conn, s, me, body, now, posted.uploads)
            except (InvalidInput, Forbidden, Conflict) as p:
                errors = {concern.field_id(p.field, rows): concern.message(p)}
                if p.extra.get("new_key"):
                    values["idempotency_key"] = str(uuid.uuid4())
        if errors:
            context = await concern.form_context(conn, s, me, values, errors)
            return render(request, "record_concern.html", context, s, status=400)
        shown = await _may_read(conn, me, recorded.incident_id)
    _ring(request, recorded.event_id, urgent=recorded.restricted)
    if not shown:  # told it is recorded, not shown a 404 (and tempted to record it again)
        raise web.HTTPSeeOther(f"/incidents/new?recorded={recorded.incident_id}")
    raise web.HTTPSeeOther(f"/incidents/{recorded.incident_id}?recorded=1")


async def _may_read(conn: Connection, me: concern.Me, incident_id: uuid.UUID) -> bool:
    try:
        await access.visible_incident(conn, me.viewer, incident_id)
    except NotFound:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Recorded:
    incident_id: uuid.UUID
    event_id: int | None = None  # None: a replay, the bell rang the first time
    restricted: bool = False


async def _record(
    request: web.Request,
    conn: Connection,
    s: Session,
    me: concern.Me,
    body: dict[str, Any],
    now: dt.datetime,
    uploads: list[Upload],
) -> Recorded:
    """The incident and its files in one transaction; a second submit of the same form (same
    key, same body) finds the first incident instead."""
    key = concern.key(body.pop("_key"))
    data = parse_incident(body, now=now)
    digest = request_hash("incident", body)
    async with conn.transaction():
        row = await record_incident(conn, recording(s.school_id, None, data, key, digest))
        if row["incident_id"] is None:
            refuse(row)
            return await _replayed(conn, s.school_id, s.staff_id, key, digest)
        for upload in uploads:
            await attach_file(
                conn, _files_dir(request), s.school_id, row["incident_id"], me.ref, upload
            )
    return Recorded(row["incident_id"], row["event_id"], row["restricted"])


async def _replayed(
    conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID, key: str, digest: bytes
) -> Recorded:
    existing = await find_by_key(conn, school_id, key, staff_id)
    if existing is None:
        raise Conflict("The concern could not be recorded. Submit it again.", field="pupil")
    if bytes(existing["request_hash"]) != digest:
        raise Conflict(
            "This form was already submitted with other details. Check the pupil's record "
            "before you submit it again.",
            field="pupil",
            new_key=True,
        )
    return Recorded(existing["id"])


# -- The incident page -------------------------------------------------------------------------


async def incident_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    incident_id = _incident_id(request)
    banner = ""
    async with request_pool(request).acquire() as conn:
        me = concern.me_of(request)
        context = await _incident_context(request, conn, s, me, incident_id)
    reference = context["incident"]["reference"]
    if "recorded" in request.query:
        banner = f"Concern recorded. Its reference is #{reference}"
    elif "added" in request.query:
        banner = f"Action added to #{reference}"
    elif "moved" in request.query:
        banner = f"#{reference} moved into a restricted category"
    return render(request, "incident.html", {**context, "banner": banner}, s)


async def _incident_context(
    request: web.Request,
    conn: Connection,
    s: Session,
    me: concern.Me,
    incident_id: uuid.UUID,
    errors: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The incident for someone who may see it (else 404); the view and its audit entry
    commit together, so nothing is ever shown unrecorded."""
    async with conn.transaction():
        await access.visible_incident(conn, me.viewer, incident_id)
        page = await views.incident_page(conn, s.school_id, incident_id)
        if page is None:
            raise NotFound("No such incident.")
        await audit.append(
            conn,
            school_id=s.school_id,
            actor_staff_id=s.staff_id,
            action="incident.view",
            subject_type="incident",
            subject_id=incident_id,
            ip=client_ip(request),
        )
    incident = page.incident
    sees_alerts = incident["author_id"] == s.staff_id or (
        me.viewer.sees_whole_school and bool(me.viewer.roles & concern.ALERT_READERS)
    )
    alerts = await views.alert_states(conn, s.school_id, incident_id) if sees_alerts else []
    may_move = me.viewer.sees_whole_school
    restricted = []
    if may_move:
        restricted = [
            (c.slug, c.name if c.slug == g.slug else f"{g.name}: {c.name}")
            for g in await views.category_groups(conn, s.school_id)
            for c in g.categories
            if c.restricted
        ]
    staff = [r for r in await views.active_staff(conn, s.school_id) if r["id"] != s.staff_id]
    errors = errors or {}
    return {
        "incident": incident,
        "description": incident["description"].split("\n"),
        "marks": page.marks,
        "actions": [{**a, "lines": a["description"].split("\n")} for a in page.actions],
        "files": page.files,
        "sees_alerts": sees_alerts,
        "alerts": [{**a, "shown": _alert_state(a)} for a in alerts],
        "may_move": may_move,
        "restricted_categories": restricted,
        "staff": staff,
        "typed": typed or {"action": "", "alert_staff": [], "category": ""},
        "idempotency_key": str(uuid.uuid4()),
        "move_key": str(uuid.uuid4()),
        "errors": errors,
        "error_list": list(errors.items()),
    }


def _alert_state(row: asyncpg.Record) -> str:
    """What the recipient did with it, else where its delivery is."""
    if row["actioned_at"] is not None:
        return "actioned"
    if row["read_at"] is not None:
        return "read"
    state: str = row["state"]
    return {"sending": "queued", "retrying": "failed"}.get(state, state)


# -- Add action ----------------------------------------------------------------------------


async def add_action(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    incident_id = _incident_id(request)
    posted = await uploads.read_form(request, _max_file_bytes(request))
    _checked(s, posted)
    form = posted.form
    typed = {
        "action": form.get("action", "").strip()[:40_000],
        "alert_staff": form.getall("alert_staff", [])[:200],
        "category": "",
    }
    async with request_pool(request).acquire() as conn:
        me = concern.recorder(request)
        facts = await access.visible_incident(conn, me.viewer, incident_id)
        errors, row = {}, None
        if not typed["action"]:
            errors["action"] = "Enter the action taken"
        file_error = posted.file_error or concern.unsupported(posted.uploads)
        if file_error:
            errors["action_files"] = file_error
        if not errors:
            body = {
                "author": me.ref,
                "description": typed["action"],
                "alert_staff": typed["alert_staff"],
            }
            try:
                row = await _append(request, conn, s, me, incident_id, body, form, posted)
            except InvalidInput as p:
                field_id = "action_alert_staff" if p.field == "alert_staff" else "action"
                errors[field_id] = p.detail.rstrip(".")
        if errors:
            context = await _incident_context(request, conn, s, me, incident_id, errors, typed)
            return render(request, "incident.html", {**context, "banner": ""}, s, status=400)
    _ring(request, row["event_id"] if row else None, urgent=facts.restricted)
    raise web.HTTPSeeOther(f"/incidents/{incident_id}?added=1#actions")


async def _append(
    request: web.Request,
    conn: Connection,
    s: Session,
    me: concern.Me,
    incident_id: uuid.UUID,
    body: dict[str, Any],
    form: MultiDict[str],
    posted: Posted,
) -> asyncpg.Record | None:
    """The action and its files; None when the same form was already added (a double submit)."""
    data = parse_action(body)
    key = concern.key(form.get("idempotency_key"))
    async with conn.transaction():
        row = await record_action(
            conn, s.school_id, None, incident_id, data, key, request_hash("action", body)
        )
        if row["action_id"] is None:
            if row["incident_id"] is None:
                raise NotFound("No such incident.")
            refuse_author(row)
            refuse_unknown(row["unknown_staff"], "alert_staff", "staff member")
            refuse_naming(row)
            return None
        for upload in posted.uploads:
            await attach_file(conn, _files_dir(request), s.school_id, incident_id, me.ref, upload)
    return row


# -- Move into a restricted category -----------------------------------------------------------


async def restrict(request: web.Request) -> web.Response:
    s = await guard.staff_session(request, elevated=True)
    incident_id = _incident_id(request)
    form = await request.post()
    guard.check_form(form, s)
    slug = form.get("category")
    slug = slug if isinstance(slug, str) else ""
    async with request_pool(request).acquire() as conn:
        me = concern.me_of(request)
        if not me.viewer.sees_whole_school:
            raise Forbidden("Only DSL, SLT and pastoral staff move incidents.")
        await access.visible_incident(conn, me.viewer, incident_id)
        key = form.get("idempotency_key")
        async with conn.transaction():
            key = concern.key(key if isinstance(key, str) else None)
            move = await move_into_restricted(conn, s.school_id, incident_id, me.ref, slug, key)
            if move is not None and move.action["action_id"] is not None:
                await audit.append(
                    conn,
                    school_id=s.school_id,
                    actor_staff_id=s.staff_id,
                    action="incident.restricted",
                    subject_type="incident",
                    subject_id=incident_id,
                    ip=client_ip(request),
                    detail={"category": slug, "action_id": str(move.action["action_id"])},
                )
        if move is None:
            errors = {"category": "Select a restricted category"}
            typed = {"action": "", "alert_staff": [], "category": slug}
            context = await _incident_context(request, conn, s, me, incident_id, errors, typed)
            return render(request, "incident.html", {**context, "banner": ""}, s, status=400)
    _ring(request, move.action["event_id"], urgent=True)
    raise web.HTTPSeeOther(f"/incidents/{incident_id}?moved=1")
