"""Admin endpoints: API keys (BEACON_ADMIN_TOKEN) and the roster import (the platform token or
an elevated admin session of the school, or of its trust; schools are
services.ingest.api.schools, the CSV upload services.ingest.api.roster_csv). And the category
list a school's API key reads to know the slugs it may post."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import caller, database, path_id, state
from services.ingest.api.roster_csv import apply_roster
from services.ingest.records.roster import parse_roster
from shared import fields
from shared.auth.administrators import school_administrator
from shared.auth.api_keys import new_api_key, require_admin
from shared.database import Connection
from shared.problems import NotFound

MAX_ROSTER_BYTES = 32 * 1024 * 1024


async def post_api_key(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    school_id = path_id(request, "school_id")
    name = _name(await read_json(request, state(request).settings.max_body_bytes))
    key, digest = new_api_key()
    async with database(request) as conn:
        await _require_school(conn, school_id)
        key_id = await conn.fetchval(
            "INSERT INTO api_keys (school_id, name, key_hash) VALUES ($1, $2, $3) RETURNING id",
            school_id,
            name,
            digest,
        )
    # The key is shown here once; only its hash is stored.
    return web.json_response({"key": key, "id": str(key_id), "name": name}, status=201)


async def put_roster(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        who = await school_administrator(request, conn, school_id)
    roster = parse_roster(await read_json(request, MAX_ROSTER_BYTES))
    return web.json_response(await apply_roster(request, school_id, roster, who))


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


def _name(body: object) -> str:
    payload = fields.obj(body, "")
    fields.only_keys(payload, frozenset({"name"}), "")
    return fields.text(fields.required(payload, "name"), "name", max_len=200)


async def _require_school(conn: Connection, school_id: uuid.UUID) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM schools WHERE id = $1)", school_id):
        raise NotFound("No such school.")
