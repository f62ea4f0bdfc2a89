"""Exports and reports, as JSON (records.exports decides who and what; the worker makes them).

    POST /v1/pupils/{pupil_id}/exports  a pupil's chronology          -> 202 the export
    POST /v1/schools/{school_id}/reports  governors' report, Ofsted pack -> 202 the export
    GET  /v1/exports/{export_id}        state, progress, and `file` when done
    GET  /v1/exports/{export_id}/file   the PDF or CSV, as an attachment only

Only elevated DSLs, deputy DSLs, SLT and the head of the school; an API key gets 403.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from services.ingest import export_bell
from services.ingest.api.bodies import read_json
from services.ingest.api.context import caller, database, path_id, state
from services.ingest.records import chronology
from services.ingest.records import exports as records
from shared import fields
from shared.auth.caller import client_ip, viewer
from shared.problems import NotFound
from shared.web import REDIS

# A download is never rendered in Beacon's origin: an attachment, not sniffed, not cached,
# and sandboxed should a browser open it anyway.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


async def post_pupil_export(request: web.Request) -> web.Response:
    who = await caller(request)
    external_id = fields.path_key(request.match_info["pupil_id"], "pupil")
    body = await read_json(request, state(request).settings.max_body_bytes)
    async with database(request) as conn, conn.transaction():
        v = await viewer(conn, who)
        records.check_exporter(v, "pupil")
        spec = records.parse_chronology(body)
        pupil = await chronology.find_pupil(conn, who.school_id, external_id)
        if pupil is None:
            raise NotFound("No such pupil.")
        row = await records.request_chronology(conn, v, pupil, spec, client_ip(request))
    await export_bell.ring(request.app[REDIS], row["id"])
    return _accepted(row)


async def post_school_report(request: web.Request) -> web.Response:
    who = await caller(request)
    school_id = path_id(request, "school_id")
    body = await read_json(request, state(request).settings.max_body_bytes)
    async with database(request) as conn, conn.transaction():
        v = await viewer(conn, who)
        records.check_exporter(v, "school")
        if school_id != who.school_id:
            raise NotFound("No such school.")
        spec = records.parse_report(body, dt.datetime.now(records.LONDON).date())
        row = await records.request_report(conn, v, spec, client_ip(request))
    await export_bell.ring(request.app[REDIS], row["id"])
    return _accepted(row)


def _accepted(row: asyncpg.Record) -> web.Response:
    path = export_path(row["id"])
    return web.json_response(export_body(row), status=202, headers={"Location": path})


async def get_export(request: web.Request) -> web.Response:
    who = await caller(request)
    export_id = path_id(request, "export_id")
    async with database(request) as conn:
        v = await viewer(conn, who)
        await records.check_reader(conn, v, export_id)
        row = await records.find_export(conn, v, export_id)
    return web.json_response(export_body(row), headers={"Cache-Control": "no-store"})


async def get_export_file(request: web.Request) -> web.Response:
    who = await caller(request)
    export_id = path_id(request, "export_id")
    async with database(request) as conn, conn.transaction():
        v = await viewer(conn, who)
        await records.check_reader(conn, v, export_id)
        row = await records.take_file(conn, v, export_id, client_ip(request))
    return await download(row)


async def download(row: asyncpg.Record) -> web.Response:
    """The stored file as an attachment (the pages' download link answers the same)."""
    data = row["data"]
    if data is None:
        data = await asyncio.to_thread(Path(row["stored_path"]).read_bytes)
    headers = {
        "Content-Type": row["content_type"],
        "Content-Disposition": attachment(row["filename"]),
        **DOWNLOAD_HEADERS,
    }
    return web.Response(body=data, headers=headers)


def attachment(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def export_path(export_id: uuid.UUID) -> str:
    return f"/v1/exports/{export_id}"


def export_body(row: asyncpg.Record) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "kind": row["kind"],
        "format": row["format"],
        "state": row["state"],
        "progress": row["progress"],
        "created_at": row["created_at"].isoformat(),
    }
    if row["kind"] == "chronology" and "pupil" in row.keys():
        body["pupil"] = row["pupil"]
    for stamp in ("finished_at", "expires_at", "expired_at"):
        if stamp in row.keys() and row[stamp] is not None:
            body[stamp] = row[stamp].isoformat()
    if row["state"] == "done":
        body["file"] = f"{export_path(row['id'])}/file"
        body["filename"] = row["filename"]
        body["size_bytes"] = row["size_bytes"]
    if row["state"] == "failed" and row["error"]:
        body["error"] = row["error"]
    return body
