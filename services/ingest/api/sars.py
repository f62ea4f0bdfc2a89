"""Subject access requests, as JSON (records.sars decides who and when; the worker makes the
export).

    POST /v1/sars                       register one             -> 201 {"id", "due_on", "state"}
    GET  /v1/sars                       the open ones, soonest due first
    GET  /v1/sars/{sar_id}              one, with its exports and the draft's third parties
    POST /v1/sars/{sar_id}/extension    {"months": 1|2, "reason"}   -> 200 the SAR
    POST /v1/sars/{sar_id}/pause        {"reason"}                  -> 200 (the clock stops)
    POST /v1/sars/{sar_id}/resume       {}                          -> 200 (due moves on)
    POST /v1/sars/{sar_id}/decisions    {"kind", "id", "decision", "reason"} -> 200 the SAR
    POST /v1/sars/{sar_id}/exports      {"stage": "draft"|"final"}  -> 202 the export
    GET|PUT /v1/schools/{school_id}/sar-handlers  {"staff": [...], "redact_staff"}

Elevated DSL/SLT sessions and the school's SAR handlers; an API key gets 403. The handlers'
list is the school's administrators' (shared.auth.administrators).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.ingest import export_bell
from services.ingest.api.bodies import read_json
from services.ingest.api.context import caller, database, path_id, state
from services.ingest.api.exports import export_body, export_path
from services.ingest.records import sar_handlers, sar_reviews, sars
from shared import fields
from shared.access import Viewer
from shared.auth.administrators import audit_change, school_administrator
from shared.auth.caller import Caller, client_ip, viewer
from shared.database import Connection
from shared.web import REDIS

HANDLERS_PATH = "/v1/schools/{school_id}/sar-handlers"
NO_STORE = {"Cache-Control": "no-store"}


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_post("/v1/sars", post_sar)
    r.add_get("/v1/sars", get_sars)
    r.add_get("/v1/sars/{sar_id}", get_sar)
    r.add_post("/v1/sars/{sar_id}/extension", post_extension)
    r.add_post("/v1/sars/{sar_id}/pause", post_pause)
    r.add_post("/v1/sars/{sar_id}/resume", post_resume)
    r.add_post("/v1/sars/{sar_id}/decisions", post_decision)
    r.add_post("/v1/sars/{sar_id}/exports", post_export)
    r.add_get(HANDLERS_PATH, get_handlers)
    r.add_put(HANDLERS_PATH, put_handlers)


async def _handler(conn: Connection, who: Caller) -> Viewer:
    v = await viewer(conn, who)
    await sars.check_handler(conn, v)
    return v


async def _body(request: web.Request) -> Any:
    return await read_json(request, state(request).settings.max_body_bytes)


async def post_sar(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await _body(request)
    async with database(request) as conn, conn.transaction():
        v = await _handler(conn, who)
        row = await sars.record_sar(conn, v, sars.parse_new(body, sars.today()), client_ip(request))
    headers = {"Location": f"/v1/sars/{row['id']}", **NO_STORE}
    return web.json_response(sars.describe(row), status=201, headers=headers)


async def get_sars(request: web.Request) -> web.Response:
    who = await caller(request)
    async with database(request) as conn:
        v = await _handler(conn, who)
        rows = await sars.open_sars(conn, v)
    return web.json_response({"sars": [sars.describe(r) for r in rows]}, headers=NO_STORE)


async def get_sar(request: web.Request) -> web.Response:
    who = await caller(request)
    async with database(request) as conn:
        v = await _handler(conn, who)
        row = await sars.find_sar(conn, v, path_id(request, "sar_id"))
        body = await _full(conn, v, row)
    return web.json_response(body, headers=NO_STORE)


async def _full(conn: Connection, v: Viewer, row: asyncpg.Record) -> dict[str, Any]:
    exports = await sar_reviews.sar_exports(conn, v, row["id"])
    parties = await sar_reviews.parties(conn, row["id"])
    return {
        **sars.describe(row),
        "exports": [{**export_body(e), "stage": e["stage"]} for e in exports],
        "third_parties": [
            {
                "kind": p["party_kind"],
                "id": p["external_id"],
                "label": p["label"],
                "redacted": p["redacted"],
                "redacted_by_default": p["redacted_by_default"],
                "found": p["found"],
            }
            for p in parties
        ],
    }


async def post_extension(request: web.Request) -> web.Response:
    who = await caller(request)
    payload = fields.obj(await _body(request), "")
    fields.only_keys(payload, frozenset({"months", "reason"}), "")
    months, reason = sars.parse_months(payload), sars.parse_reason(payload)
    assert reason is not None  # noqa: S101 (required)
    async with database(request) as conn, conn.transaction():
        v = await _handler(conn, who)
        sar_id = path_id(request, "sar_id")
        row = await sars.extend(conn, v, sar_id, months, reason, client_ip(request))
    return web.json_response(sars.describe(row), headers=NO_STORE)


async def post_pause(request: web.Request) -> web.Response:
    who = await caller(request)
    payload = fields.obj(await _body(request), "")
    fields.only_keys(payload, frozenset({"reason"}), "")
    reason = sars.parse_reason(payload)
    assert reason is not None  # noqa: S101 (required)
    async with database(request) as conn, conn.transaction():
        v = await _handler(conn, who)
        sar_id = path_id(request, "sar_id")
        row = await sars.pause(conn, v, sar_id, reason, sars.today(), client_ip(request))
    return web.json_response(sars.describe(row), headers=NO_STORE)


async def post_resume(request: web.Request) -> web.Response:
    who = await caller(request)
    fields.only_keys(fields.obj(await _body(request), ""), frozenset(), "")
    async with database(request) as conn, conn.transaction():
        v = await _handler(conn, who)
        sar_id = path_id(request, "sar_id")
        row = await sars.resume(conn, v, sar_id, sars.today(), client_ip(request))
    return web.json_response(sars.describe(row), headers=NO_STORE)


async def post_decision(request: web.Request) -> web.Response:
    who = await caller(request)
    decision = sar_reviews.parse_decision(await _body(request))
    async with database(request) as conn, conn.transaction():
        v = await _handler(conn, who)
        row = await sars.find_sar(conn, v, path_id(request, "sar_id"))
        await sar_reviews.decide(conn, v, row, decision, client_ip(request))
        body = await _full(conn, v, row)
    return web.json_response(body, headers=NO_STORE)


async def post_export(request: web.Request) -> web.Response:
    who = await caller(request)
    stage = sar_reviews.parse_stage(await _body(request))
    async with database(request) as conn, conn.transaction():
        v = await _handler(conn, who)
        sar = await sars.find_sar(conn, v, path_id(request, "sar_id"))
        row = await sar_reviews.request_export(conn, v, sar, stage, client_ip(request))
    await export_bell.ring(request.app[REDIS], row["id"])
    headers = {"Location": export_path(row["id"])}
    return web.json_response(export_body(row), status=202, headers=headers)


async def get_handlers(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        await school_administrator(request, conn, school_id)
        found = await sar_handlers.read(conn, school_id)
    return web.json_response(found.body(), headers=NO_STORE)


async def put_handlers(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        # Who first: nobody learns what a body would be refused for before they may send it.
        who = await school_administrator(request, conn, school_id)
        staff, redact = sar_handlers.parse(await _body(request))
        async with conn.transaction():
            before = await sar_handlers.read(conn, school_id)
            after = await sar_handlers.replace(conn, school_id, staff, redact)
            await audit_change(
                conn, request, who, school_id, "sar_handlers.change", before.body(), after.body()
            )
    return web.json_response(after.body(), headers=NO_STORE)
