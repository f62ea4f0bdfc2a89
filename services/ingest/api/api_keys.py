"""A school's API keys (BEACON_ADMIN_TOKEN): create with scopes, list without secrets, revoke.

POST   /v1/schools/{id}/api-keys           {"name", "scopes"?, "authors"?} -> 201, key once
GET    /v1/schools/{id}/api-keys           every key: id, name, scopes, authors, times
DELETE /v1/schools/{id}/api-keys/{key_id}  revoked at once, on every process (204)
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import redis.exceptions
from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import database, path_id, state
from services.ingest.api.representation import stamp
from shared import fields
from shared.auth import scopes
from shared.auth.administrators import audit_change, school_administrator
from shared.auth.api_keys import issue_api_key, revoke_api_key
from shared.database import Connection
from shared.problems import NotFound, Overloaded
from shared.web import REDIS

_FIELDS = frozenset({"name", "scopes", "authors"})
_LIST = """SELECT id, name, scopes, authors, created_at, revoked_at FROM api_keys
WHERE school_id = $1 ORDER BY created_at, id"""


async def post_api_key(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        who = await school_administrator(request, conn, school_id)
        payload = fields.obj(await read_json(request, state(request).settings.max_body_bytes), "")
        fields.only_keys(payload, _FIELDS, "")
        name = fields.text(fields.required(payload, "name"), "name", max_len=200)
        granted = scopes.parse_scopes(payload.get("scopes"))
        authors = scopes.parse_authors(payload.get("authors"))
        await require_school(conn, school_id)
        async with conn.transaction():
            key_id, key = await issue_api_key(conn, school_id, name, granted, authors)
            listed = {
                "id": str(key_id),
                "name": name,
                "scopes": list(granted),
                "authors": None if authors is None else list(authors),
            }
            await audit_change(conn, request, who, school_id, "api_keys.create", None, listed)
    # The key is shown here once; only its hash is stored.
    return web.json_response({**listed, "key": key}, status=201)


async def get_api_keys(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        await school_administrator(request, conn, school_id)
        await require_school(conn, school_id)
        rows = await conn.fetch(_LIST, school_id)
    return web.json_response([_listed(r) for r in rows])


async def delete_api_key(request: web.Request) -> web.Response:
    """Revoked in PostgreSQL, then marked in Redis for every process's key cache. With Redis
    away the key is revoked but a cache may hold it for up to 30 s: 503, retry (idempotent)."""
    school_id, key_id = path_id(request, "school_id"), path_id(request, "key_id")
    async with database(request) as conn:
        who = await school_administrator(request, conn, school_id)
        try:
            found = await revoke_api_key(conn, request.app[REDIS], school_id, key_id)
        except (redis.exceptions.RedisError, OSError):
            raise Overloaded(
                "The key is revoked, but not every process has heard yet: retry."
            ) from None
        if not found:
            raise NotFound("No such API key in this school.")
        await audit_change(
            conn,
            request,
            who,
            school_id,
            "api_keys.revoke",
            {"id": str(key_id)},
            None,
            subject_id=key_id,
        )
    return web.Response(status=204)


def _listed(row: asyncpg.Record) -> dict[str, Any]:
    authors = row["authors"]
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "scopes": list(row["scopes"]),
        "authors": None if authors is None else list(authors),
        "created_at": stamp(row["created_at"]),
        "revoked_at": None if row["revoked_at"] is None else stamp(row["revoked_at"]),
    }


async def require_school(conn: Connection, school_id: uuid.UUID) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM schools WHERE id = $1)", school_id):
        raise NotFound("No such school.")
