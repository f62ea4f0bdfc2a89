"""Admin endpoints for a school's access settings (DOMAIN "Access").

    GET /v1/schools/{school_id}/access-settings -> 200 {"password_policy": "school"|"ncsc",
        "password_min_length": 8, "totp_at_login": false, "session_idle_seconds": null}
    PUT the same path with any of those fields -> 200 the settings now in force

`totp_at_login` is off by default: the schools' model is password sign-in and a second factor
to elevate (ARCHITECTURE.md says why); a school that wants ASVS L2 MFA at login turns it on.
Every change is written to the audit log with the values before and after.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import database, path_id, state
from shared import audit, fields
from shared.auth.api_keys import require_admin
from shared.auth.caller import client_ip
from shared.database import Connection
from shared.problems import InvalidInput, NotFound

PATH = "/v1/schools/{school_id}/access-settings"
DEFAULTS: dict[str, Any] = {
    "password_policy": "school",
    "password_min_length": 8,
    "totp_at_login": False,
    "session_idle_seconds": None,
}

_SELECT = """
SELECT s.id, a.password_policy, a.password_min_length, a.totp_at_login, a.session_idle_seconds
FROM schools s LEFT JOIN school_access_settings a ON a.school_id = s.id
WHERE s.id = $1
"""
_UPSERT = """
INSERT INTO school_access_settings (school_id, password_policy, password_min_length,
                                    totp_at_login, session_idle_seconds)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (school_id) DO UPDATE SET
    password_policy = EXCLUDED.password_policy,
    password_min_length = EXCLUDED.password_min_length,
    totp_at_login = EXCLUDED.totp_at_login,
    session_idle_seconds = EXCLUDED.session_idle_seconds,
    updated_at = now()
"""


async def get_settings(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    async with database(request) as conn:
        return web.json_response(await _current(conn, path_id(request, "school_id")))


async def put_settings(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    school_id = path_id(request, "school_id")
    changes = parse_changes(await read_json(request, state(request).settings.max_body_bytes))
    async with database(request) as conn, conn.transaction():
        before = await _current(conn, school_id, lock=True)
        after = {**before, **changes}
        await conn.execute(
            _UPSERT,
            school_id,
            after["password_policy"],
            after["password_min_length"],
            after["totp_at_login"],
            after["session_idle_seconds"],
        )
        await audit.append(
            conn,
            school_id=school_id,
            action="settings.access.change",
            subject_type="school",
            subject_id=school_id,
            ip=client_ip(request),
            detail={"before": before, "after": after},
        )
    return web.json_response(after)


def parse_changes(body: Any) -> dict[str, Any]:
    payload = fields.obj(body, "")
    fields.only_keys(payload, frozenset(DEFAULTS), "")
    changes: dict[str, Any] = {}
    if "password_policy" in payload:
        if payload["password_policy"] not in ("school", "ncsc"):
            raise InvalidInput(
                "password_policy must be 'school' or 'ncsc'.", field="password_policy"
            )
        changes["password_policy"] = payload["password_policy"]
    if "password_min_length" in payload:
        changes["password_min_length"] = _whole(payload, "password_min_length", 8, 64)
    if "totp_at_login" in payload:
        if not isinstance(payload["totp_at_login"], bool):
            raise InvalidInput("totp_at_login must be true or false.", field="totp_at_login")
        changes["totp_at_login"] = payload["totp_at_login"]
    if "session_idle_seconds" in payload:
        changes["session_idle_seconds"] = (
            None
            if payload["session_idle_seconds"] is None
            else _whole(payload, "session_idle_seconds", 60, 86400)
        )
    return changes


def _whole(payload: Any, key: str, low: int, high: int) -> int:
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{key} must be a whole number from {low} to {high}.", field=key)
    return value


async def _current(conn: Connection, school_id: uuid.UUID, lock: bool = False) -> dict[str, Any]:
    if lock:  # two PUTs for one school apply in turn, each audited against the true before
        await conn.execute("SELECT 1 FROM schools WHERE id = $1 FOR UPDATE", school_id)
    row = await conn.fetchrow(_SELECT, school_id)
    if row is None:
        raise NotFound("No such school.")
    return {
        k: (DEFAULTS[k] if row[k] is None and k != "session_idle_seconds" else row[k])
        for k in DEFAULTS
    }


def openapi_paths(problems: Any) -> dict[str, Any]:
    """This module's part of /v1/openapi.json; `problems(*statuses)` renders error responses."""
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "password_policy": {"enum": ["school", "ncsc"]},
            "password_min_length": {"type": "integer", "minimum": 8, "maximum": 64},
            "totp_at_login": {"type": "boolean"},
            "session_idle_seconds": {"type": ["integer", "null"], "minimum": 60, "maximum": 86400},
        },
    }
    ok = {
        "description": "The settings in force.",
        "content": {"application/json": {"schema": schema}},
    }
    params = [
        {
            "name": "school_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    admin: list[dict[str, list[str]]] = [{"adminToken": []}]
    return {
        PATH: {
            "get": {
                "summary": "The school's access settings.",
                "security": admin,
                "parameters": params,
                "responses": {"200": ok, **problems(401, 404)},
            },
            "put": {
                "summary": "Change some access settings (audited).",
                "security": admin,
                "parameters": params,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
                "responses": {"200": ok, **problems(400, 401, 404, 413, 415, 422)},
            },
        }
    }
