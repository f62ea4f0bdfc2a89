"""Export pages: asking for a pupil's chronology, and watching an export being made.

/pupils/{pupil_id}/export   the "Export chronology" form (range, categories, format, staff
                            names, and the entries a DSL picks as significant); POST asks for
                            it and goes to its page
/exports/{export_id}        a progress bar with a "Check again" link (no JavaScript needed;
                            beacon.js updates it in place, never reloading the page under a
                            screen reader) until the export is done, then the link
/exports/{export_id}/file   the download, an attachment like the API's

For elevated DSLs, deputy DSLs, SLT and the head (records.exports); before elevating they are
sent to elevate, and anyone else gets the 404 page.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from services.ingest import export_bell
from services.ingest.api.exports import download
from services.ingest.records import chronology
from services.ingest.records import exports as records
from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared import fields
from shared.access import Viewer
from shared.auth.caller import client_ip
from shared.auth.sessions import Session
from shared.database import Connection
from shared.problems import InvalidInput, NotFound, Problem
from shared.web import REDIS, request_pool

LABELS = {
    "chronology": "Chronology",
    "governors": "Governors' report",
    "ofsted": "Ofsted pack",
    "sar": "Subject access request",
}
STATES = {
    "queued": ("Waiting to start", "govuk-tag--grey"),
    "running": ("Being made", "govuk-tag--blue"),
    "done": ("Ready", "govuk-tag--green"),
    "failed": ("Failed", "govuk-tag--red"),
    "expired": ("Expired", "govuk-tag--grey"),
}


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/pupils/{pupil_id}/export", export_form)
    r.add_post("/pupils/{pupil_id}/export", post_export)
    r.add_get("/exports/{export_id}", export_page)
    r.add_get("/exports/{export_id}/file", export_file)


async def exporter(
    request: web.Request, conn: Connection, s: Session, export_id: uuid.UUID | None = None
) -> Viewer:
    """The viewer if they may export (or, given `export_id`, read that export: a SAR handler
    reads a subject access export); to elevate first if they could; else the 404 page."""
    viewer = guard.viewer(request)
    if export_id is not None and s.elevated:
        try:
            await records.check_reader(conn, viewer, export_id)
        except Problem:
            pass
        else:
            return viewer
    if not records.could_export(viewer):
        raise NotFound("No such page.")
    if not records.may_export(viewer):
        raise web.HTTPSeeOther(f"/elevate?next={quote(request.path_qs, safe='')}")
    return viewer


# -- The chronology export form ------------------------------------------------------------------


async def export_form(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = await exporter(request, conn, s)
        context = await _form_context(request, conn, viewer, {}, {})
    return render(request, "export_chronology.html", context, s)


async def post_export(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = await exporter(request, conn, s)
        sent = {k: v for k, v in form.items() if isinstance(v, str)}
        spec, errors = _spec(form, sent)
        if not errors:
            try:
                pupil = await _pupil(conn, viewer, request)
                row = await records.request_chronology(
                    conn, viewer, pupil, spec, client_ip(request)
                )
            except InvalidInput as e:
                errors = {_FIELD_IDS.get(e.field or "", "from-day"): e.detail}
        if errors:
            context = await _form_context(request, conn, viewer, sent, errors, form)
            return render(request, "export_chronology.html", context, s, status=400)
    await export_bell.ring(request.app[REDIS], row["id"])
    raise web.HTTPSeeOther(f"/exports/{row['id']}")


_FIELD_IDS = {"entries": "entries", "categories": "categories", "to": "to-day", "from": "from-day"}


async def _pupil(conn: Connection, viewer: Viewer, request: web.Request) -> asyncpg.Record:
    external_id = fields.path_key(request.match_info["pupil_id"], "pupil")
    pupil: asyncpg.Record | None = await chronology.find_pupil(conn, viewer.school_id, external_id)
    if pupil is None:
        raise NotFound("No such pupil.")
    return pupil


async def _form_context(
    request: web.Request,
    conn: Connection,
    viewer: Viewer,
    sent: dict[str, str],
    errors: dict[str, str],
    form: Any = None,
) -> dict[str, Any]:
    pupil = await _pupil(conn, viewer, request)
    found = await chronology.view_chronology(conn, viewer, pupil, page=None, ip=client_ip(request))
    ticked = set(form.getall("entries", [])) if form is not None else set()
    chosen = set(form.getall("categories", [])) if form is not None else set()
    return {
        "pupil": pupil,
        "categories": await chronology.filter_categories(conn, viewer),
        "incidents": [e for e in found.entries if e["kind"] == "incident"],
        "form": {k: sent.get(k, "") for k in _DATE_FIELDS},
        "format": sent.get("format", "pdf"),
        "staff_names": sent.get("staff_names", "yes"),
        "ticked": ticked,
        "chosen": chosen,
        "errors": errors,
        "error_list": list(errors.items()),
    }


_DATE_FIELDS = [f"{side}-{part}" for side in ("from", "to") for part in ("day", "month", "year")]


def _spec(form: Any, sent: dict[str, str]) -> tuple[records.ChronologySpec, dict[str, str]]:
    errors: dict[str, str] = {}
    since, since_error = _date(sent, "from", "Date from")
    until, until_error = _date(sent, "to", "Date to")
    errors |= {k: v for k, v in (("from-day", since_error), ("to-day", until_error)) if v}
    if since and until and until < since:
        errors["to-day"] = "Date to must be the same as or after date from"
    picked = [str(v) for v in form.getall("entries", [])]
    try:
        entries = tuple(records.entry_ids(picked)) if picked else None
    except InvalidInput:
        entries, errors["entries"] = None, "Pick entries from the list"
    spec = records.ChronologySpec(
        format="csv" if sent.get("format") == "csv" else "pdf",
        since=since,
        until=until,
        categories=tuple(dict.fromkeys(str(c) for c in form.getall("categories", []))),
        entries=entries,
        staff_names=sent.get("staff_names", "yes") != "no",
    )
    return spec, errors


def _date(form: dict[str, str], side: str, label: str) -> tuple[date | None, str]:
    parts = [form.get(f"{side}-{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None, ""
    if not all(parts):
        return None, f"{label} must include a day, month and year"
    try:
        day, month, year = (int(p) for p in parts)
        if not 1900 <= year <= 2999:
            raise ValueError
        return date(year, month, day), ""
    except ValueError:
        return None, f"{label} must be a real date"


# -- An export's page and its file ----------------------------------------------------------------


async def export_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn:
        export_id = _export_id(request)
        viewer = await exporter(request, conn, s, export_id)
        row = await records.find_export(conn, viewer, export_id)
    return render(request, "export.html", {"export": describe(row)}, s)


async def export_file(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn, conn.transaction():
        export_id = _export_id(request)
        viewer = await exporter(request, conn, s, export_id)
        row = await records.take_file(conn, viewer, export_id, client_ip(request))
    return await download(row)


def _export_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["export_id"])
    except ValueError:
        raise NotFound("No such export.") from None


def describe(row: asyncpg.Record) -> dict[str, Any]:
    state, tag = STATES[row["state"]]
    about = f"pupil {row['pupil']}" if row["pupil"] else ""
    return {
        **dict(row),
        "label": LABELS[row["kind"]],
        "about": about,
        "state_label": state,
        "tag": tag,
        "size": _size(row["size_bytes"]),
        "format_label": row["format"].upper(),
    }


def _size(size: int | None) -> str:
    if size is None:
        return ""
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"
