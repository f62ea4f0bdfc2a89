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
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import BodyPartReader, web
from multidict import MultiDict, MultiDictProxy

from services.ingest.api.context import INGEST
from services.ingest.api.idempotency import request_hash
from services.ingest.api.incidents import refuse, refuse_author, refuse_unknown
from services.ingest.records import incident_views as views
from services.ingest.records.actions import record_action
from services.ingest.records.files import Upload, attach_file, safe_name
from services.ingest.records.incidents import find_by_key, record_incident
from services.ingest.records.inputs import MAX_MARKS, parse_action, parse_incident
from services.ingest.records.moves import move_into_restricted
from services.ingest.records.sniffing import sniff
from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared import access, audit, fields
from shared.access import Viewer
from shared.auth.caller import client_ip
from shared.auth.sessions import Session
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES, Role
from shared.problems import (
    Conflict,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    NotFound,
    Problem,
    TooLarge,
    UnsupportedMediaType,
)
from shared.web import request_pool

LONDON = ZoneInfo("Europe/London")
MAX_FILES = 5
MAX_FIELD_BYTES = 100_000  # one text field (the write-up is at most 20,000 characters)
MAX_PARTS = 400
MARK_ROWS = 3
# Who records paper reports for others, and who sees who was alerted (besides the author).
ON_BEHALF_ROLES = frozenset({Role.DSL, Role.DEPUTY_DSL})
ALERT_READERS = frozenset({Role.DSL, Role.DEPUTY_DSL, Role.SLT, Role.HEAD})
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_MARK = re.compile(r"^body_map\[(\d+)\](?:\.(view|region|note))?")


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/incidents/new", new_concern)
    r.add_post("/incidents/new", record_concern)
    r.add_get("/incidents/{incident_id}", incident_page)
    r.add_post("/incidents/{incident_id}/actions", add_action)
    r.add_post("/incidents/{incident_id}/restrict", restrict)


# -- The posted form: multipart, streamed, every part bounded -----------------------------------


@dataclass(slots=True)
class Posted:
    form: MultiDict[str] = field(default_factory=MultiDict)
    uploads: list[Upload] = field(default_factory=list)
    file_error: str = ""


async def read_form(request: web.Request, max_file_bytes: int) -> Posted:
    if request.content_type != "multipart/form-data":
        raise MalformedRequest("Send the form from its page.")
    limit = MAX_FILES * max_file_bytes + MAX_PARTS * 1024 + 4 * MAX_FIELD_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"Attach at most {MAX_FILES} files of {_size(max_file_bytes)} each.")
    posted, parts = Posted(), 0
    async for part in await request.multipart():
        parts += 1
        if not isinstance(part, BodyPartReader) or parts > MAX_PARTS or not part.name:
            raise MalformedRequest("Send the form from its page.")
        if part.filename is None:
            raw = await _read_text(part)
            posted.form.add(part.name, raw if fields.storable(raw) else "")
        else:
            await _read_file(part, posted, max_file_bytes)
    return posted


async def _read_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise TooLarge("A field of the form is too long.")
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


async def _read_file(part: BodyPartReader, posted: Posted, max_bytes: int) -> None:
    data, over = bytearray(), False
    while chunk := await part.read_chunk(64 * 1024):
        if over or len(data) + len(chunk) > max_bytes:
            over = True  # keep reading (and dropping) so the rest of the form still arrives
            continue
        data += chunk
    if over:
        posted.file_error = f"Each file must be smaller than {_size(max_bytes)}"
    elif data and len(posted.uploads) >= MAX_FILES:
        posted.file_error = f"Attach up to {MAX_FILES} files"
    elif data:
        posted.uploads.append(Upload(safe_name(part.filename), bytes(data)))


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _checked(s: Session, posted: Posted) -> None:
    guard.check_form(MultiDictProxy(posted.form), s)  # type: ignore[arg-type]


def _max_file_bytes(request: web.Request) -> int:
    return request.app[INGEST].settings.max_file_bytes


def _files_dir(request: web.Request) -> str:
    return request.app[INGEST].settings.files_dir


def _ring(request: web.Request, event_id: int | None, *, urgent: bool) -> None:
    bell = request.app[INGEST].worker_bell
    if bell is not None and event_id is not None:
        bell.ring(event_id, urgent=urgent)


# -- Who is asking -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Me:
    viewer: Viewer
    ref: str  # the staff id as the school's MIS names it

    @property
    def privileged(self) -> bool:
        return bool(self.viewer.roles & PRIVILEGED_ROLES)


async def _me(conn: Connection, s: Session) -> Me:
    viewer = await access.load_viewer(conn, s.staff_id, s.elevated)
    ref = await views.staff_ref(conn, s.school_id, s.staff_id)
    if viewer is None or ref is None:
        raise guard.to_login_error()
    return Me(viewer, ref)


async def _recorder(conn: Connection, s: Session) -> Me:
    me = await _me(conn, s)
    if not access.can_add_incident(me.viewer, s.school_id):
        raise Forbidden("Only teaching, pastoral and leadership staff record concerns.")
    return me


def _incident_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["incident_id"])
    except ValueError:
        raise NotFound("No such incident.") from None


def _key(raw: str | None) -> str:
    """The form's idempotency key: a uuid we rendered, else a fresh one."""
    try:
        return str(uuid.UUID(raw or ""))
    except ValueError:
        return str(uuid.uuid4())


# -- Record a concern --------------------------------------------------------------------------


async def new_concern(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    values = _defaults(request.query.get("pupil", ""), request.query.get("q", ""))
    async with request_pool(request).acquire() as conn:
        me = await _recorder(conn, s)
        context = await _form_context(conn, s, me, values, {})
    return render(request, "record_concern.html", context, s)


async def record_concern(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    posted = await read_form(request, _max_file_bytes(request))
    _checked(s, posted)
    values = _values(posted.form)
    now = dt.datetime.now(dt.UTC)
    async with request_pool(request).acquire() as conn:
        me = await _recorder(conn, s)
        errors, occurred = _check(values, posted, now)
        if not errors:
            body, rows = _body(values, me, occurred)
            try:
                recorded = await _record(request, conn, s, me, body, now, posted.uploads)
            except (InvalidInput, Forbidden, Conflict) as p:
                errors = {_field_id(p.field, rows): _message(p)}
                if p.extra.get("new_key"):
                    values["idempotency_key"] = str(uuid.uuid4())
        if errors:
            context = await _form_context(conn, s, me, values, errors)
            return render(request, "record_concern.html", context, s, status=400)
    _ring(request, recorded.event_id, urgent=recorded.restricted)
    raise web.HTTPSeeOther(f"/incidents/{recorded.incident_id}?recorded=1")


@dataclass(frozen=True, slots=True)
class Recorded:
    incident_id: uuid.UUID
    event_id: int | None = None  # None: a replay, the bell rang the first time
    restricted: bool = False


async def _record(
    request: web.Request,
    conn: Connection,
    s: Session,
    me: Me,
    body: dict[str, Any],
    now: dt.datetime,
    uploads: list[Upload],
) -> Recorded:
    """The incident and its files in one transaction; a second submit of the same form (same
    key, same body) finds the first incident instead."""
    key = _key(body.pop("_key"))
    data = parse_incident(body, now=now)
    digest = request_hash("incident", body)
    async with conn.transaction():
        row = await record_incident(conn, s.school_id, None, data, key, digest)
        if row["incident_id"] is None:
            refuse(row)
            return await _replayed(conn, s.school_id, key, digest)
        for upload in uploads:
            await attach_file(
                conn, _files_dir(request), s.school_id, row["incident_id"], me.ref, upload
            )
    return Recorded(row["incident_id"], row["event_id"], row["restricted"])


async def _replayed(conn: Connection, school_id: uuid.UUID, key: str, digest: bytes) -> Recorded:
    existing = await find_by_key(conn, school_id, key)
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


def _defaults(pupil: str, query: str) -> dict[str, Any]:
    now = dt.datetime.now(LONDON)
    return {
        "idempotency_key": str(uuid.uuid4()),
        "q": query.strip()[:100],
        "pupil": pupil.strip()[:100],
        "day": str(now.day),
        "month": str(now.month),
        "year": str(now.year),
        "time": f"{now:%H:%M}",
        "description": "",
        "categories": [],
        "linked_pupils": "",
        "agencies": "",
        "marks": [_empty_mark() for _ in range(MARK_ROWS)],
        "alert_staff": [],
        "on_behalf_of": "",
    }


def _empty_mark() -> dict[str, str]:
    return {"region": "", "view": "front", "note": ""}


def _values(form: MultiDict[str]) -> dict[str, Any]:
    def one(name: str, limit: int = 200) -> str:
        return form.get(name, "").strip()[:limit]

    marks = []
    for n in range(1, MAX_MARKS + 1):
        region, note = one(f"mark-{n}-region", 100), one(f"mark-{n}-note", 2000)
        view = one(f"mark-{n}-view", 10) or "front"
        if region or note:
            marks.append({"region": region, "view": view, "note": note})
    shown = marks + [_empty_mark() for _ in range(max(MARK_ROWS - len(marks), 1))]
    return {
        "idempotency_key": _key(form.get("idempotency_key")),
        "q": "",
        "pupil": one("pupil", 100),
        "day": one("occurred_at-day", 4),
        "month": one("occurred_at-month", 4),
        "year": one("occurred_at-year", 6),
        "time": one("occurred_at-time", 8),
        "description": form.get("description", "").strip()[:40_000],
        "categories": form.getall("categories", [])[:100],
        "linked_pupils": one("linked_pupils", 2000),
        "agencies": form.get("agencies", "").strip()[:10_000],
        "marks": shown[:MAX_MARKS],
        "alert_staff": form.getall("alert_staff", [])[:200],
        "on_behalf_of": one("on_behalf_of"),
    }


def _check(
    values: dict[str, Any], posted: Posted, now: dt.datetime
) -> tuple[dict[str, str], dt.datetime | None]:
    """What the page can tell at once, for every field together (the use case then names the
    first of what only the database knows)."""
    errors: dict[str, str] = {}
    if not values["pupil"]:
        errors["pupil"] = "Select the pupil"
    occurred, problem = _occurred(values, now)
    if problem:
        errors["occurred_at"] = problem
    if not values["description"]:
        errors["description"] = "Enter what happened"
    if not values["categories"]:
        errors["categories"] = "Select at least one category"
    for n, mark in enumerate(values["marks"], start=1):
        if mark["note"] and not mark["region"]:
            errors[f"mark-{n}-region"] = f"Select where on the body mark {n} is"
    file_error = posted.file_error or _unsupported(posted.uploads)
    if file_error:
        errors["files"] = file_error
    return errors, occurred


def _occurred(values: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime | None, str]:
    parts = (values["day"], values["month"], values["year"])
    if not any(parts) and not values["time"]:
        return None, "Enter when it happened"
    time = _TIME.match(values["time"])
    if not all(p.isdigit() for p in parts) or time is None:
        return None, "When did it happen must be a real date and time, like 27 11 2024 and 10:15"
    try:
        local = dt.datetime(
            int(values["year"]),
            int(values["month"]),
            int(values["day"]),
            int(time[1]),
            int(time[2]),
            tzinfo=LONDON,
        )
    except ValueError:
        return None, "When did it happen must be a real date and time"
    if local > now:
        return None, "When did it happen must be in the past"
    if local.year < 2000:
        return None, "When did it happen must be after 2000"
    return local.astimezone(dt.UTC), ""


def _unsupported(uploads: list[Upload]) -> str:
    for upload in uploads:
        try:
            sniff(upload.data)
        except UnsupportedMediaType as p:
            return f"{upload.filename}: {p.detail}"
    return ""


def _body(
    values: dict[str, Any], me: Me, occurred: dt.datetime | None
) -> tuple[dict[str, Any], list[int]]:
    """The API's incident body from the form; and which mark row each body_map entry is."""
    description = values["description"]
    if values["on_behalf_of"] and me.viewer.roles & ON_BEHALF_ROLES:
        description = f"Recorded on behalf of: {values['on_behalf_of']}\n\n{description}"
    rows = [n for n, m in enumerate(values["marks"], start=1) if m["region"]]
    marks = [values["marks"][n - 1] for n in rows]
    assert occurred is not None  # noqa: S101 (_check refused the form otherwise)
    body = {
        "_key": values["idempotency_key"],
        "author": me.ref,
        "pupil": values["pupil"],
        "occurred_at": occurred.isoformat(),
        "description": description,
        "categories": values["categories"],
        "linked_pupils": [p for p in re.split(r"[\s,;]+", values["linked_pupils"]) if p],
        "agencies": [a.strip() for a in values["agencies"].splitlines() if a.strip()],
        "body_map": [{"view": m["view"], "region": m["region"], "note": m["note"]} for m in marks],
        "alert_staff": values["alert_staff"],
    }
    return body, rows


def _field_id(path: str | None, mark_rows: list[int]) -> str:
    """The form field for the use case's field name ("linked_pupils[0]", "body_map[1].note")."""
    path = path or ""
    mark = _MARK.match(path)
    if mark:
        n = int(mark[1])
        row = mark_rows[n] if n < len(mark_rows) else 1
        return f"mark-{row}-{mark[2] or 'region'}"
    head = re.split(r"[\[.]", path, maxsplit=1)[0]
    known = {"pupil", "occurred_at", "description", "categories", "linked_pupils", "agencies"}
    if head in known or head == "alert_staff":
        return head
    return "description"


_MESSAGES = {
    "occurred_at": "When did it happen must be in the past",
    "description": "What happened is too long: write at most 20,000 characters",
}


def _message(p: Problem) -> str:
    head = re.split(r"[\[.]", p.field or "", maxsplit=1)[0]
    if head == "occurred_at" and "future" not in p.detail:
        return "When did it happen must be a real date and time"
    if head == "description" and p.detail.endswith("is required."):
        return "Enter what happened"
    return _MESSAGES.get(head, p.detail) if head in _MESSAGES else p.detail.rstrip(".")


async def _form_context(
    conn: Connection, s: Session, me: Me, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    pupils = await views.find_pupils(conn, s.school_id, values["q"])
    if values["pupil"] and all(p["external_id"] != values["pupil"] for p in pupils):
        chosen = await views.find_pupil(conn, s.school_id, values["pupil"])
        pupils = ([chosen] if chosen else []) + list(pupils)
    groups = [
        g
        for g in await views.category_groups(conn, s.school_id)
        if me.privileged or not g.restricted
    ]
    boxes, first = [], True
    for g in groups:
        shown = [c for c in g.categories if me.privileged or not c.restricted]
        if shown:
            ids = []
            for n, c in enumerate(shown):
                ids.append((c, "categories" if first and n == 0 else f"category-{c.slug}"))
            first = False
            boxes.append((g, ids))
    staff = [r for r in await views.active_staff(conn, s.school_id) if r["id"] != s.staff_id]
    return {
        "values": values,
        "pupils": pupils,
        "category_groups": boxes,
        "staff": staff,
        "on_behalf": bool(me.viewer.roles & ON_BEHALF_ROLES),
        "errors": errors,
        "error_list": list(errors.items()),
    }


# -- The incident page -------------------------------------------------------------------------


async def incident_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    incident_id = _incident_id(request)
    banner = ""
    async with request_pool(request).acquire() as conn:
        me = await _me(conn, s)
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
    me: Me,
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
        me.viewer.sees_whole_school and bool(me.viewer.roles & ALERT_READERS)
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
    return {"sending": "queued", "retrying": "failed"}.get(row["state"], row["state"])


# -- Add action ----------------------------------------------------------------------------


async def add_action(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    incident_id = _incident_id(request)
    posted = await read_form(request, _max_file_bytes(request))
    _checked(s, posted)
    form = posted.form
    typed = {
        "action": form.get("action", "").strip()[:40_000],
        "alert_staff": form.getall("alert_staff", [])[:200],
        "category": "",
    }
    async with request_pool(request).acquire() as conn:
        me = await _recorder(conn, s)
        facts = await access.visible_incident(conn, me.viewer, incident_id)
        errors, row = {}, None
        if not typed["action"]:
            errors["action"] = "Enter the action taken"
        file_error = posted.file_error or _unsupported(posted.uploads)
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
    me: Me,
    incident_id: uuid.UUID,
    body: dict[str, Any],
    form: MultiDict[str],
    posted: Posted,
) -> asyncpg.Record | None:
    """The action and its files; None when the same form was already added (a double submit)."""
    data = parse_action(body)
    key = _key(form.get("idempotency_key"))
    async with conn.transaction():
        row = await record_action(
            conn, s.school_id, None, incident_id, data, key, request_hash("action", body)
        )
        if row["action_id"] is None:
            if row["incident_id"] is None:
                raise NotFound("No such incident.")
            refuse_author(row)
            refuse_unknown(row["unknown_staff"], "alert_staff", "staff member")
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
        me = await _me(conn, s)
        if not me.viewer.sees_whole_school:
            raise Forbidden("Only DSL, SLT and pastoral staff move incidents.")
        await access.visible_incident(conn, me.viewer, incident_id)
        key = form.get("idempotency_key")
        async with conn.transaction():
            key = _key(key if isinstance(key, str) else None)
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
