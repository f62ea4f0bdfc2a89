"""The roster as CSV files from the MIS: preview first, then confirm (the platform token or an
elevated admin session of the school, or of its trust).

POST /v1/schools/{id}/roster/preview  multipart/form-data: staff, classes, pupils (CSV files)
                                      -> 200 what would be added, changed and made inactive,
                                      the roles that would wait, each bad row, and a token
POST /v1/schools/{id}/roster/confirm  {"token"} -> 200 the import, all of it or none

Nothing is written before the confirmation; the parsed upload waits in Redis for 30 minutes.
The same import's use case (`apply_roster`) serves PUT .../roster and the admin pages.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import BodyPartReader, web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import database, path_id, state
from services.ingest.records import roster_csv
from services.ingest.records.roster import (
    Requester,
    Roster,
    import_roster,
    made_inactive,
    sign_out,
)
from shared import audit, fields
from shared.auth.administrators import (
    ADMIN_ACTION_PREFIX,
    Administrator,
    audit_change,
    school_administrator,
)
from shared.auth.api_keys import ApiCaller
from shared.auth.caller import client_ip
from shared.auth.state import sessions as staff_sessions
from shared.database import Connection
from shared.problems import MalformedRequest, NotFound, TooLarge, UnsupportedMediaType
from shared.web import REDIS

MAX_PARTS = 10
GONE = "This preview has expired or was already imported: upload the files again."


async def post_preview(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        who = await school_administrator(request, conn, school_id)
        await require_school(conn, school_id)
    _, files = await read_csv_form(request)
    upload = roster_csv.read_upload(files)
    async with database(request) as conn:
        changes = await roster_csv.preview_changes(conn, school_id, upload.roster)
    token = await roster_csv.stash(request.app[REDIS], school_id, who.staff_id, upload)
    return web.json_response(preview_body(token, changes, upload))


def preview_body(token: str, changes: dict[str, Any], upload: roster_csv.Upload) -> Any:
    bad = [{"file": b.file, "line": b.line, "reason": b.reason} for b in upload.bad_rows]
    return {"token": token, "expires_in": roster_csv.STASH_SECONDS, **changes, "bad_rows": bad}


async def post_confirm(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        who = await school_administrator(request, conn, school_id)
    payload = fields.obj(await read_json(request, state(request).settings.max_body_bytes), "")
    fields.only_keys(payload, frozenset({"token"}), "")
    token = fields.text(fields.required(payload, "token"), "token", max_len=100)
    upload = await roster_csv.unstash(request.app[REDIS], token, school_id, who.staff_id)
    if upload is None:
        raise NotFound(GONE)
    done = await apply_roster(request, school_id, upload.roster, who, len(upload.bad_rows))
    await roster_csv.forget(request.app[REDIS], token)
    return web.json_response(done)


async def apply_roster(
    request: web.Request,
    school_id: uuid.UUID,
    roster: Roster,
    who: Administrator | ApiCaller,
    bad_rows: int = 0,
) -> dict[str, int]:
    """Import in one transaction (all or nothing), audited; the leavers' sessions end once it
    has committed."""
    requester = _requester(request, who)
    async with database(request) as conn, conn.transaction():
        await require_school(conn, school_id)
        counts = await import_roster(conn, school_id, roster, requester)
        leavers = await made_inactive(conn, school_id)
        after = {**counts, "made_inactive": len(leavers)}
        if bad_rows:
            after["bad_rows"] = bad_rows
        await _audit(conn, request, who, school_id, after)
    await sign_out(staff_sessions(request), leavers)
    return counts


def _requester(request: web.Request, who: Administrator | ApiCaller) -> Requester:
    ip = client_ip(request)
    if isinstance(who, ApiCaller):
        return Requester("api_key", api_key_id=who.api_key_id, ip=ip)
    return Requester(who.by, staff_id=who.staff_id, ip=ip)


async def _audit(
    conn: Connection,
    request: web.Request,
    who: Administrator | ApiCaller,
    school_id: uuid.UUID,
    after: dict[str, int],
) -> None:
    if isinstance(who, Administrator):
        await audit_change(conn, request, who, school_id, "roster.import", None, dict(after))
        return
    await audit.append(
        conn,
        school_id=school_id,
        action=ADMIN_ACTION_PREFIX + "roster.import",
        actor_api_key_id=who.api_key_id,
        subject_type="school",
        subject_id=school_id,
        ip=client_ip(request),
        detail={"by": "api_key", "before": None, "after": dict(after)},
    )


async def read_csv_form(request: web.Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """A multipart form's short text fields, and its files by field name (each at most
    roster_csv.MAX_FILE_BYTES)."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the files as multipart/form-data.", field="Content-Type")
    limit = len(roster_csv.TABLES) * roster_csv.MAX_FILE_BYTES + 64 * 1024
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"Each file may be at most {roster_csv.MAX_FILE_BYTES // 2**20} MB.")
    texts: dict[str, str] = {}
    files: dict[str, bytes] = {}
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                return texts, files
            if not isinstance(part, BodyPartReader) or not part.name:
                raise MalformedRequest("Send the form with named parts.")
            data = await _read_part(part)
            if part.filename is None and part.name not in roster_csv.TABLES:
                texts[part.name] = data.decode("utf-8", "replace")[:200]
            else:
                files[part.name] = data
    except (ValueError, AssertionError):
        raise MalformedRequest("The multipart body is not valid.") from None
    raise MalformedRequest(f"Send at most {MAX_PARTS} parts.")


async def _read_part(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > roster_csv.MAX_FILE_BYTES:
            raise TooLarge(f"Each file may be at most {roster_csv.MAX_FILE_BYTES // 2**20} MB.")
    return bytes(data)


async def require_school(conn: Connection, school_id: uuid.UUID) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM schools WHERE id = $1)", school_id):
        raise NotFound("No such school.")
