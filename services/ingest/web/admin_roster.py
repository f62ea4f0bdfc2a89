"""/admin/roster: the MIS's three CSV files uploaded, a preview of what importing them would
change (and each bad row), then the import on confirmation: all of it or none, the same use
case as the API's (services.ingest.api.roster_csv)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.ingest.api.roster_csv import apply_roster, read_csv_form, require_school
from services.ingest.records import roster_csv
from services.ingest.web import guard
from services.ingest.web.admin import admin_page_for
from services.ingest.web.rendering import render
from shared.web import REDIS, request_pool

TABLE_NAMES = {"staff": "Staff", "classes": "Classes", "pupils": "Pupils"}
FILES = [(t, TABLE_NAMES[t], roster_csv.COLUMNS[t]) for t in roster_csv.TABLES]


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/admin/roster", roster_page)
    r.add_post("/admin/roster", preview_form)
    r.add_post("/admin/roster/confirm", confirm_form)


async def roster_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
    done = request.query.get("imported", "")
    banner = "The roster was imported." if done else ""
    return render(
        request, "admin_roster.html", page.context(files=FILES, banner=banner), page.session
    )


async def preview_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        await require_school(conn, page.school_id)
    texts, files = await read_csv_form(request)
    guard.check_form(texts, page.session)
    missing = {t: f"Choose the {t} CSV file" for t, _, _ in FILES if not files.get(t)}
    if missing:
        context = page.context(files=FILES, errors=missing, error_list=list(missing.items()))
        return render(request, "admin_roster.html", context, page.session, status=400)
    upload = roster_csv.read_upload(files)
    async with request_pool(request).acquire() as conn:
        changes = await roster_csv.preview_changes(conn, page.school_id, upload.roster)
    token = await roster_csv.stash(request.app[REDIS], page.school_id, page.who.staff_id, upload)
    context = page.context(
        token=token,
        tables=_tables(changes),
        bad_rows=upload.bad_rows,
        pending=changes["pending_roles"],
        names=TABLE_NAMES,
        minutes=roster_csv.STASH_SECONDS // 60,
    )
    return render(request, "admin_roster_preview.html", context, page.session)


def _tables(changes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": t, "name": TABLE_NAMES[t], **changes[t]} for t in roster_csv.TABLES]


async def confirm_form(request: web.Request) -> web.StreamResponse:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
    form = await request.post()
    guard.check_form(form, page.session)
    token = form.get("token")
    upload = None
    if isinstance(token, str):
        upload = await roster_csv.unstash(
            request.app[REDIS], token, page.school_id, page.who.staff_id
        )
    if upload is None or not isinstance(token, str):
        errors = {
            "staff": "This preview has expired or was already imported: upload the files again"
        }
        context = page.context(files=FILES, errors=errors, error_list=list(errors.items()))
        return render(request, "admin_roster.html", context, page.session, status=400)
    await apply_roster(request, page.school_id, upload.roster, page.who, len(upload.bad_rows))
    await roster_csv.forget(request.app[REDIS], token)
    sep = "&" if page.query else "?"
    raise web.HTTPSeeOther(f"/admin/roster{page.query}{sep}imported=1")
