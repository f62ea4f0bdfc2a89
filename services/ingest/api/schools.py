"""Schools and trusts, for the platform and for the schools' own admins.

POST /v1/schools                   {"name", "admin"?: {"email", "first_name", "last_name"}}
                                   platform token -> 201 {"id", "name", "admin"?}; the admin is
                                   emailed a set-password link
GET  /v1/schools/{id}/audit        ?kind=admin: admin changes, newest first (school admins too)
POST /v1/trusts                    {"name"} platform token -> 201 {"id", "name"}
PUT  /v1/schools/{id}/trust        {"trust": id | null} platform token
POST /v1/trusts/{id}/admins        {"school", "staff"} platform token: a trust admin
GET  /v1/trusts/{id}/schools       the platform, or that trust's own admins
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import database, path_id, state
from services.ingest.api.representation import stamp
from services.ingest.records import reset_email, staff_accounts, trusts
from services.ingest.records.schools import create_school
from shared import fields
from shared.auth import accounts
from shared.auth import state as auth_state
from shared.auth.administrators import (
    ADMIN_ACTION_PREFIX,
    PLATFORM,
    audit_change,
    school_administrator,
)
from shared.auth.api_keys import require_admin
from shared.auth.caller import session
from shared.database import Connection
from shared.problems import InvalidInput, NotFound

MAX_AUDIT = 500


async def post_school(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    name, admin = _new_school(await read_json(request, state(request).settings.max_body_bytes))
    async with database(request) as conn, conn.transaction():
        school_id = await create_school(conn, name)
        body: dict[str, Any] = {"id": str(school_id), "name": name}
        token = None
        if admin is not None:
            admin_id = await staff_accounts.create_first_admin(conn, school_id, *admin)
            body["admin"] = str(admin_id)
            token = await set_password_link(request, conn, school_id, admin_id)
        await audit_change(conn, request, PLATFORM, school_id, "school.created", None, body)
    if admin is not None and token is not None:
        send_link(request, admin[0], token)
    return web.json_response(body, status=201)


def _new_school(body: object) -> tuple[str, tuple[str, str, str] | None]:
    payload = fields.obj(body, "")
    fields.only_keys(payload, frozenset({"name", "admin"}), "")
    name = fields.text(fields.required(payload, "name"), "name", max_len=200)
    if payload.get("admin") is None:
        return name, None
    a = fields.obj(payload["admin"], "admin")
    fields.only_keys(a, frozenset({"email", "first_name", "last_name"}), "admin")
    email = fields.text(fields.required(a, "email", "admin"), "admin.email", max_len=254)
    if "@" not in email or any(c.isspace() for c in email):
        raise InvalidInput("Not an email address.", field="admin.email")
    first = fields.text(fields.required(a, "first_name", "admin"), "admin.first_name", 100)
    last = fields.text(fields.required(a, "last_name", "admin"), "admin.last_name", 100)
    return name, (email, first, last)


async def set_password_link(
    request: web.Request, conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID
) -> str:
    """A new single-use set-password token for a member of staff (the caller sends it once
    the transaction commits: `send_link`)."""
    minutes = request.app[auth_state.AUTH].config.reset_link_minutes
    return await accounts.create_reset_token(conn, school_id, staff_id, minutes)


def send_link(request: web.Request, email: str, token: str) -> None:
    """The set-password email, sent after the response (as the reset request sends it)."""
    settings, staff_state = state(request).settings, request.app[auth_state.AUTH]
    message = reset_email.build(settings, email, token, staff_state.config.reset_link_minutes)
    staff_state.background(reset_email.send(settings, message))


# -- The admin audit ---------------------------------------------------------------------------

_AUDIT = """
SELECT a.at, a.action, a.detail, a.subject_id, s.external_id, s.first_name, s.last_name
FROM audit_log a LEFT JOIN staff s ON s.id = a.actor_staff_id
WHERE a.school_id = $1 AND a.action LIKE 'admin.%'
ORDER BY a.seq DESC LIMIT $2
"""


async def get_audit(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    if request.query.get("kind", "admin") != "admin":
        raise InvalidInput("kind must be admin.", field="kind")
    limit = _limit(request.query.get("limit"))
    async with database(request) as conn:
        await school_administrator(request, conn, school_id)
        await _require_school(conn, school_id)
        rows = await admin_changes(conn, school_id, limit)
    return web.json_response([_change(r) for r in rows])


async def admin_changes(
    conn: Connection, school_id: uuid.UUID, limit: int = 100
) -> list[asyncpg.Record]:
    return await conn.fetch(_AUDIT, school_id, limit)


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_AUDIT}.", field="limit")
    return int(raw)


def _change(row: asyncpg.Record) -> dict[str, Any]:
    detail = row["detail"] if isinstance(row["detail"], dict) else _loads(row["detail"])
    staff = row["external_id"]
    who: dict[str, Any] = {"by": detail.get("by", "platform"), "staff": staff}
    if staff is not None:
        who["name"] = f"{row['first_name']} {row['last_name']}"
    return {
        "at": stamp(row["at"]),
        "what": row["action"].removeprefix(ADMIN_ACTION_PREFIX),
        "who": who,
        "subject": row["subject_id"],
        "before": detail.get("before"),
        "after": detail.get("after"),
    }


def _loads(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


# -- Trusts ------------------------------------------------------------------------------------


async def post_trust(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    payload = fields.obj(await read_json(request, state(request).settings.max_body_bytes), "")
    fields.only_keys(payload, frozenset({"name"}), "")
    name = fields.text(fields.required(payload, "name"), "name", max_len=200)
    async with database(request) as conn:
        trust_id = await trusts.create_trust(conn, name)
    return web.json_response({"id": str(trust_id), "name": name}, status=201)


async def put_school_trust(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    school_id = path_id(request, "school_id")
    payload = fields.obj(await read_json(request, state(request).settings.max_body_bytes), "")
    fields.only_keys(payload, frozenset({"trust"}), "")
    if "trust" not in payload:
        raise InvalidInput("Send trust: a trust's id, or null for none.", field="trust")
    trust_id = _uuid_or_none(payload["trust"], "trust")
    async with database(request) as conn, conn.transaction():
        before = await trusts.school_trust(conn, school_id)
        await trusts.set_school_trust(conn, school_id, trust_id)
        after = None if trust_id is None else str(trust_id)
        old = None if before is None else str(before)
        await audit_change(conn, request, PLATFORM, school_id, "school.trust", old, after)
    return web.json_response({"school": str(school_id), "trust": after})


async def post_trust_admin(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    trust_id = path_id(request, "trust_id")
    payload = fields.obj(await read_json(request, state(request).settings.max_body_bytes), "")
    fields.only_keys(payload, frozenset({"school", "staff"}), "")
    school_id = _uuid_or_none(fields.required(payload, "school"), "school")
    staff = fields.identifier(fields.required(payload, "staff"), "staff")
    if school_id is None:
        raise InvalidInput("school must be a school's id.", field="school")
    async with database(request) as conn, conn.transaction():
        staff_id = await trusts.add_trust_admin(conn, trust_id, school_id, staff)
        await audit_change(
            conn, request, PLATFORM, school_id, "trust.admin_added", None, str(trust_id), staff_id
        )
    body = {"trust": str(trust_id), "school": str(school_id), "staff": staff}
    return web.json_response(body, status=201)


async def get_trust_schools(request: web.Request) -> web.Response:
    """The platform, or an elevated member of this trust's central team; 404 for anyone else
    (nobody sees another trust's schools)."""
    trust_id = path_id(request, "trust_id")
    async with database(request) as conn:
        if "Authorization" in request.headers:
            require_admin(request, state(request).settings.admin_token)
            if not await trusts.exists(conn, trust_id):
                raise NotFound("No such trust.")
        else:
            s = await session(request)
            if not s.elevated or not await trusts.is_trust_admin(conn, trust_id, s.staff_id):
                raise NotFound("No such trust.")
        rows = await trusts.trust_schools(conn, trust_id)
    return web.json_response([{"id": str(r["id"]), "name": r["name"]} for r in rows])


def _uuid_or_none(value: object, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value)) if isinstance(value, str) else _bad(field)
    except ValueError:
        return _bad(field)


def _bad(field: str) -> uuid.UUID:
    raise InvalidInput(f"{field} must be an id.", field=field)


async def _require_school(conn: Connection, school_id: uuid.UUID) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM schools WHERE id = $1)", school_id):
        raise NotFound("No such school.")
