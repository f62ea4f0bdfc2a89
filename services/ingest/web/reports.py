"""/reports: the governors' report and the Ofsted pack, and the school's recent exports.

The governors' report covers the dates given (a term or a year); the Ofsted pack is one click
(the last twelve months). Each POST asks the worker for it and goes to the export's page. For
elevated DSLs, deputy DSLs, SLT and the head, like every export page (web/exports.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from services.ingest import export_bell
from services.ingest.records import exports as records
from services.ingest.web import guard
from services.ingest.web.exports import LABELS, STATES, exporter
from services.ingest.web.rendering import render
from shared.auth.caller import client_ip
from shared.problems import InvalidInput
from shared.web import REDIS, request_pool


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/reports", reports_page)
    r.add_post("/reports", post_report)


async def reports_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn:
        viewer = await exporter(request, conn, s)
        context = await _context(conn, viewer, _term_defaults(), {})
    return render(request, "reports.html", context, s)


async def post_report(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    sent = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = await exporter(request, conn, s)
        try:
            spec = records.parse_report(_body(sent), dt.datetime.now(records.LONDON).date())
        except InvalidInput as e:
            errors = {"to" if e.field == "to" else "from": e.detail}
            context = await _context(conn, viewer, sent, errors)
            return render(request, "reports.html", context, s, status=400)
        row = await records.request_report(conn, viewer, spec, client_ip(request))
    await export_bell.ring(request.app[REDIS], row["id"])
    raise web.HTTPSeeOther(f"/exports/{row['id']}")


def _body(sent: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": sent.get("kind", ""),
        "format": "csv" if sent.get("format") == "csv" else "pdf",
    }
    for key in ("from", "to"):
        if sent.get(key):
            body[key] = sent[key]
    return body


def _term_defaults() -> dict[str, str]:
    """This school year so far: from 1 September to today."""
    today = dt.datetime.now(records.LONDON).date()
    start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    return {"from": start.isoformat(), "to": today.isoformat(), "format": "pdf"}


async def _context(
    conn: Any, viewer: Any, sent: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    recent = await records.recent_exports(conn, viewer)
    return {
        "form": {k: sent.get(k, "") for k in ("from", "to", "format")},
        "recent": [
            {
                **dict(r),
                "label": LABELS[r["kind"]],
                "state_label": STATES[r["state"]][0],
                "tag": STATES[r["state"]][1],
            }
            for r in recent
        ],
        "errors": errors,
        "error_list": list(errors.items()),
    }
