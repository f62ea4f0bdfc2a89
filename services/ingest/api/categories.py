"""A school's categories, administered (the platform token or an elevated admin of the school),
and the category list every caller of the school reads.

    GET   /v1/schools/{school_id}/categories          -> 200 [{"slug", "name", "group",
                                                        "restricted", "email_name", "retired",
                                                        "custom"}]
    POST  /v1/schools/{school_id}/categories          {"name", "group"?, "restricted"?,
                                                        "email_name"?} -> 201 the category
    PATCH /v1/schools/{school_id}/categories/{slug}   {"email_name"?, "restricted"?,
                                                        "retired"?} -> 200 the category
    GET   /v1/categories                               (an API key or a session) the school's
                                                        categories, its own beside the defaults

Every change is audited with who, before and after (shared.auth.administrators).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import caller, database, path_id, state
from services.ingest.records import categories
from shared import fields
from shared.auth.administrators import Administrator, audit_change, school_administrator
from shared.database import Connection
from shared.problems import NotFound

PATH = "/v1/schools/{school_id}/categories"
# A slug holds a "/" (group/name).
ONE_PATH = PATH + "/{slug:[^{}]+}"
MAX_SLUG = 2 * categories.MAX_NAME + 1
# The platform token, or an elevated session of the school's admin (or its trust's).
ADMINS: list[dict[str, list[str]]] = [{"adminToken": []}, {"session": []}]
_UUID = {"type": "string", "format": "uuid"}


async def administrator(request: web.Request, school_id: uuid.UUID) -> Administrator:
    """Who administers `school_id` for this request (404 for anyone else, and for a school
    that does not exist)."""
    async with database(request) as conn:
        who = await school_administrator(request, conn, school_id)
        await require_school(conn, school_id)
    return who


async def require_school(conn: Connection, school_id: uuid.UUID) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM schools WHERE id = $1)", school_id):
        raise NotFound("No such school.")


async def get_school_categories(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    await administrator(request, school_id)
    async with database(request) as conn:
        return web.json_response(await categories.list_categories(conn, school_id))


async def post_category(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    who = await administrator(request, school_id)
    new = categories.parse_new(await read_json(request, state(request).settings.max_body_bytes))
    async with database(request) as conn, conn.transaction():
        added = await categories.add_category(conn, school_id, new)
        await audit_change(
            conn, request, who, school_id, "categories.add", None, added, subject_id=added["slug"]
        )
    return web.json_response(added, status=201)


async def patch_category(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    slug = fields.path_key(request.match_info["slug"], "category", max_len=MAX_SLUG)
    who = await administrator(request, school_id)
    changes = categories.parse_changes(
        await read_json(request, state(request).settings.max_body_bytes)
    )
    async with database(request) as conn, conn.transaction():
        before, after = await categories.change_category(conn, school_id, slug, changes)
        if before != after:
            await audit_change(
                conn, request, who, school_id, "categories.change", before, after, subject_id=slug
            )
    return web.json_response(after)


async def get_categories(request: web.Request) -> web.Response:
    """The caller's school's categories; `parent` is `group` under its first name."""
    who = await caller(request)
    async with database(request) as conn:
        found = await categories.list_categories(conn, who.school_id)
    return web.json_response([{**c, "parent": c["group"]} for c in found])


def openapi_paths(problems: Any) -> dict[str, Any]:
    """This module's part of /v1/openapi.json; `problems(*statuses)` renders error responses."""
    name = {"type": "string", "minLength": 1, "maxLength": categories.MAX_NAME}
    email_name = {
        **name,
        "type": ["string", "null"],
        "description": "Said in alert emails instead of the name; null: the name (a "
        "restricted category: its group's email-safe name or name).",
    }
    category = {
        "type": "object",
        "required": ["slug", "name", "group", "restricted", "email_name", "retired", "custom"],
        "properties": {
            "slug": {"type": "string", "description": "group/name by DOMAIN's slug rule."},
            "name": {"type": "string"},
            "group": {"type": ["string", "null"], "description": "Its group's slug."},
            "restricted": {"type": "boolean"},
            "email_name": {"type": ["string", "null"]},
            "retired": {"type": "boolean", "description": "Kept on old incidents only."},
            "custom": {"type": "boolean", "description": "The school's own."},
        },
    }
    one = {"description": "The category.", "content": {"application/json": {"schema": category}}}
    new = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": name,
            "group": {
                "type": ["string", "null"],
                "maxLength": categories.MAX_NAME,
                "description": "An existing group's slug; absent or null: a new group.",
            },
            "restricted": {"type": "boolean", "description": "Always true in a restricted group."},
            "email_name": email_name,
        },
    }
    change = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "email_name": email_name,
            "restricted": {
                "type": "boolean",
                "description": "A group's categories follow it when it is restricted; a "
                "default restricted category, or one of a restricted group, stays so (422).",
            },
            "retired": {"type": "boolean", "description": "A group's categories follow it."},
        },
    }
    school = {"name": "school_id", "in": "path", "required": True, "schema": _UUID}
    slug = {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "The category's slug, its '/' as it is (cause-for-concern/online-safety).",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SLUG},
    }
    body_statuses = (400, 401, 403, 404, 413, 415, 422)
    return {
        PATH: {
            "get": {
                "summary": "The school's categories: the defaults and its own.",
                "security": ADMINS,
                "parameters": [school],
                "responses": {
                    "200": {
                        "description": "Every category, retired ones included, by slug.",
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": category}}
                        },
                    },
                    **problems(401, 403, 404),
                },
            },
            "post": {
                "summary": "Add a category or a group (audited).",
                "security": ADMINS,
                "parameters": [school],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": new}},
                },
                "responses": {"201": one, **problems(*body_statuses, 409)},
            },
        },
        ONE_PATH.replace(":[^{}]+", ""): {
            "patch": {
                "summary": "Change a category's email-safe name, restriction or retirement "
                "(audited); its slug never changes.",
                "security": ADMINS,
                "parameters": [school, slug],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": change}},
                },
                "responses": {"200": one, **problems(*body_statuses)},
            }
        },
    }
