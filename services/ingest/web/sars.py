"""Subject access request pages: the register and one request.

/sars                 the open requests, soonest due first, and a form to register one
/sars/{sar_id}        its dates; forms to extend, stop and restart the clock; the review
                      draft's third parties, each with a reveal or redact form; and the
                      buttons for the draft and the final (each goes to /exports/{id})

For elevated DSLs, SLT and the school's SAR handlers (records.sars); before elevating they
are sent to elevate, anyone else gets the 404 page. Each form posts back (POST-redirect-GET);
a refused form draws the page again with the problem at the top.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from services.ingest import export_bell
from services.ingest.records import sar_reviews, sars
from services.ingest.web import guard
from services.ingest.web.exports import STATES
from services.ingest.web.rendering import render
from shared.access import Viewer
from shared.auth.caller import client_ip
from shared.auth.sessions import Session
from shared.database import Connection
from shared.problems import NotFound, Problem
from shared.web import REDIS, request_pool

_NEW_FIELDS = ("pupil", "requester", "relationship", "received_on")


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/sars", register_page)
    r.add_post("/sars", post_register)
    r.add_get("/sars/{sar_id}", sar_page)
    r.add_post("/sars/{sar_id}/extension", post_extension)
    r.add_post("/sars/{sar_id}/pause", post_pause)
    r.add_post("/sars/{sar_id}/resume", post_resume)
    r.add_post("/sars/{sar_id}/decisions", post_decision)
    r.add_post("/sars/{sar_id}/exports", post_export)


async def handler(request: web.Request, conn: Connection, s: Session) -> Viewer:
    """The viewer if they may handle SARs; to elevate first if they could; else 404."""
    viewer = guard.viewer(request)
    if not await sars.could_handle(conn, viewer):
        raise NotFound("No such page.")
    if not viewer.elevated:
        raise web.HTTPSeeOther(f"/elevate?next={quote(request.path_qs, safe='')}")
    return viewer


# -- The register ------------------------------------------------------------------------------


async def register_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn:
        viewer = await handler(request, conn, s)
        context = await _register(conn, viewer, {}, {})
    return render(request, "sars.html", context, s)


async def post_register(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    sent = {k: str(form.get(k, "")).strip() for k in _NEW_FIELDS}
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = await handler(request, conn, s)
        try:
            new = sars.parse_new(sent, sars.today())
            row = await sars.record_sar(conn, viewer, new, client_ip(request))
        except Problem as e:
            errors = {e.field if e.field in _NEW_FIELDS else "pupil": _sentence(e.detail)}
            context = await _register(conn, viewer, sent, errors)
            return render(request, "sars.html", context, s, status=400)
    raise web.HTTPSeeOther(f"/sars/{row['id']}")


async def _register(
    conn: Connection, viewer: Viewer, sent: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "sars": await sars.open_sars(conn, viewer),
        "form": {k: sent.get(k, "") for k in _NEW_FIELDS},
        "errors": errors,
        "error_list": list(errors.items()),
    }


# -- One request -------------------------------------------------------------------------------


async def sar_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn:
        viewer = await handler(request, conn, s)
        sar = await _sar(conn, viewer, request)
        context = await _detail(conn, viewer, sar, {})
    return render(request, "sar.html", context, s)


async def _sar(conn: Connection, viewer: Viewer, request: web.Request) -> asyncpg.Record:
    try:
        sar_id = uuid.UUID(request.match_info["sar_id"])
    except ValueError:
        raise NotFound("No such page.") from None
    return await sars.find_sar(conn, viewer, sar_id)


async def _detail(
    conn: Connection, viewer: Viewer, sar: asyncpg.Record, errors: dict[str, str]
) -> dict[str, Any]:
    exports = await sar_reviews.sar_exports(conn, viewer, sar["id"])
    return {
        "sar": sar,
        "exports": [{**dict(e), "state_label": STATES[e["state"]][0]} for e in exports],
        "drafted": any(
            e["stage"] == "draft" and e["state"] in ("done", "expired") for e in exports
        ),
        "parties": await sar_reviews.parties(conn, sar["id"]),
        "errors": errors,
        "error_list": list(errors.items()),
    }


async def _change(request: web.Request, field: str, change: Any) -> web.Response:
    """Run `change(conn, viewer, sar, form)` for a form on the request's page; back to the
    page, or the page again with the problem (at `field`) when it is refused."""
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = await handler(request, conn, s)
        sar = await _sar(conn, viewer, request)
        try:
            async with conn.transaction():
                goes_to = await change(conn, viewer, sar, form, client_ip(request))
        except Problem as e:
            context = await _detail(conn, viewer, sar, {field: _sentence(e.detail)})
            return render(request, "sar.html", context, s, status=400)
    if isinstance(goes_to, uuid.UUID):  # an export: ring the worker, go to its page
        await export_bell.ring(request.app[REDIS], goes_to)
        raise web.HTTPSeeOther(f"/exports/{goes_to}")
    raise web.HTTPSeeOther(f"/sars/{sar['id']}")


def _sentence(detail: str) -> str:
    return detail.rstrip(".")


async def post_extension(request: web.Request) -> web.Response:
    async def extend(conn: Connection, v: Viewer, sar: Any, form: Any, ip: str | None) -> None:
        months = sars.parse_months({"months": _int(form.get("months"))})
        reason = sars.parse_reason({"reason": form.get("reason")})
        await sars.extend(conn, v, sar["id"], months, reason or "", ip)

    return await _change(request, "extension-reason", extend)


async def post_pause(request: web.Request) -> web.Response:
    async def pause(conn: Connection, v: Viewer, sar: Any, form: Any, ip: str | None) -> None:
        reason = sars.parse_reason({"reason": form.get("reason")})
        await sars.pause(conn, v, sar["id"], reason or "", sars.today(), ip)

    return await _change(request, "pause-reason", pause)


async def post_resume(request: web.Request) -> web.Response:
    async def resume(conn: Connection, v: Viewer, sar: Any, form: Any, ip: str | None) -> None:
        await sars.resume(conn, v, sar["id"], sars.today(), ip)

    return await _change(request, "resume", resume)


async def post_decision(request: web.Request) -> web.Response:
    async def decide(conn: Connection, v: Viewer, sar: Any, form: Any, ip: str | None) -> None:
        body = {k: form.get(k) for k in ("kind", "id", "decision", "reason")}
        await sar_reviews.decide(conn, v, sar, sar_reviews.parse_decision(body), ip)

    return await _change(request, "decisions", decide)


async def post_export(request: web.Request) -> web.Response:
    async def export(conn: Connection, v: Viewer, sar: Any, form: Any, ip: str | None) -> uuid.UUID:
        stage = sar_reviews.parse_stage({"stage": form.get("stage")})
        row = await sar_reviews.request_export(conn, v, sar, stage, ip)
        export_id: uuid.UUID = row["id"]
        return export_id

    return await _change(request, "exports", export)


def _int(value: Any) -> Any:
    try:
        return int(str(value))
    except ValueError:
        return value
