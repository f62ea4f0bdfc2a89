"""The roster import: the platform token, an elevated admin session of the school (or of its
trust), or the school's own key with `roster:write`, so an MIS sync needs no admin token
(schools are services.ingest.api.schools, API keys services.ingest.api.api_keys, the CSV
upload services.ingest.api.roster_csv). And the category list a school's API key reads to know
the slugs it may post."""

from __future__ import annotations

import hmac
import uuid

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import api_caller, caller, database, path_id, state
from services.ingest.api.roster_csv import apply_roster
from services.ingest.records.roster import parse_roster
from shared.auth import scopes
from shared.auth.administrators import PLATFORM, Administrator, school_administrator
from shared.auth.api_keys import ApiCaller, bearer_token
from shared.problems import NotFound

MAX_ROSTER_BYTES = 32 * 1024 * 1024


async def put_roster(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    who = await _may_import_roster(request, school_id)
    roster = parse_roster(await read_json(request, MAX_ROSTER_BYTES))
    return web.json_response(await apply_roster(request, school_id, roster, who))


async def _may_import_roster(
    request: web.Request, school_id: uuid.UUID
) -> Administrator | ApiCaller:
    """The admin token, a school administrator's session, or the school's own API key holding
    `roster:write`; another school's key finds no such school."""
    if "Authorization" not in request.headers:
        async with database(request) as conn:
            return await school_administrator(request, conn, school_id)
    admin_token = state(request).settings.admin_token.encode()
    if hmac.compare_digest(bearer_token(request).encode(), admin_token):
        return PLATFORM
    key = await api_caller(request)
    if key.school_id != school_id:
        raise NotFound("No such school.")
    if not key.may(scopes.ROSTER_WRITE):
        raise scopes.missing(scopes.ROSTER_WRITE)
    return key


async def get_categories(request: web.Request) -> web.Response:
    who = await caller(request)
    async with database(request) as conn:
        rows = await conn.fetch(
            """SELECT slug, name, parent_slug, restricted FROM categories
               WHERE school_id = $1 ORDER BY slug""",
            who.school_id,
        )
    return web.json_response(
        [
            {
                "slug": r["slug"],
                "name": r["name"],
                "parent": r["parent_slug"],
                "restricted": r["restricted"],
            }
            for r in rows
        ]
    )
