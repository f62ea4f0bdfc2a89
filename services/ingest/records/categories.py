"""A school's categories: its copy of the defaults beside its own, with their email-safe names.

Slugs never change: a category is named once (`group/name` by DOMAIN's slug rule) and only its
email-safe name, whether it is restricted and whether it is retired change after. Restriction is
need-to-know policy, so it only ratchets where the defaults or a restricted group say so: a
category of a restricted group is restricted, and a default restricted one stays restricted. A
retired category stays on old incidents and is offered and accepted no more; retiring a group
retires its categories too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared import fields
from shared.database import Connection
from shared.domain import category_slug, slugify
from shared.problems import Conflict, InvalidInput, NotFound

MAX_NAME = 100
_NEW_KEYS = frozenset({"name", "group", "restricted", "email_name"})
_CHANGE_KEYS = frozenset({"email_name", "restricted", "retired"})

_COLUMNS = """c.slug, c.name, c.parent_slug, c.restricted, c.email_name, c.custom,
              c.retired_at IS NOT NULL AS retired"""
_LIST = f"SELECT {_COLUMNS} FROM categories c WHERE c.school_id = $1 ORDER BY c.slug"  # noqa: S608
_ONE = f"""SELECT {_COLUMNS}, g.restricted AS group_restricted,
                 g.retired_at IS NOT NULL AS group_retired
FROM categories c LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
WHERE c.school_id = $1 AND c.slug = $2 FOR UPDATE OF c"""  # noqa: S608
_GROUP = """SELECT slug, parent_slug, restricted, retired_at IS NOT NULL AS retired
FROM categories WHERE school_id = $1 AND slug = $2 FOR SHARE"""
_INSERT = """INSERT INTO categories (school_id, slug, name, parent_slug, restricted, email_name,
                                     custom)
VALUES ($1, $2, $3, $4, $5, $6, true) ON CONFLICT DO NOTHING RETURNING slug"""
# Restricting a group restricts its categories; retiring one retires its categories.
_CHANGE = """UPDATE categories c SET
    email_name = CASE WHEN c.slug = $2 THEN $3 ELSE c.email_name END,
    restricted = CASE WHEN c.slug = $2 OR $4 THEN $4 ELSE c.restricted END,
    retired_at = CASE WHEN c.slug = $2 AND NOT $5 THEN NULL
                      WHEN $5 THEN coalesce(c.retired_at, now()) ELSE c.retired_at END
WHERE c.school_id = $1 AND (c.slug = $2 OR (c.parent_slug = $2 AND ($4 OR $5)))"""


@dataclass(frozen=True, slots=True)
class NewCategory:
    name: str
    group: str | None  # a group's slug; None: the new category is a group
    restricted: bool
    email_name: str | None


def parse_new(body: Any) -> NewCategory:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _NEW_KEYS, "")
    name = fields.text(fields.required(payload, "name"), "name", max_len=MAX_NAME)
    if not slugify(name):
        raise InvalidInput("name needs at least one letter or digit.", field="name")
    group = payload.get("group")
    if group is not None:
        group = slugify(fields.text(group, "group", max_len=MAX_NAME))
        if not group:
            raise InvalidInput("group needs at least one letter or digit.", field="group")
    return NewCategory(
        name, group, _flag(payload, "restricted", False), _email_name(payload.get("email_name"))
    )


def parse_changes(body: Any) -> dict[str, Any]:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _CHANGE_KEYS, "")
    changes: dict[str, Any] = {}
    if "email_name" in payload:
        changes["email_name"] = _email_name(payload["email_name"])
    for key in ("restricted", "retired"):
        if key in payload:
            changes[key] = _flag(payload, key, False)
    return changes


async def list_categories(conn: Connection, school_id: uuid.UUID) -> list[dict[str, Any]]:
    return [as_json(r) for r in await conn.fetch(_LIST, school_id)]


async def add_category(conn: Connection, school_id: uuid.UUID, new: NewCategory) -> dict[str, Any]:
    """Adds it (in the caller's transaction); 422 naming `group` for an unknown group, 409
    when the slug is taken (retired ones included: a slug is never reused)."""
    restricted = new.restricted
    if new.group is not None:
        group = await conn.fetchrow(_GROUP, school_id, new.group)
        if group is None or group["parent_slug"] is not None:
            raise InvalidInput(f"No group {new.group!r} in this school.", field="group")
        if group["retired"]:
            raise InvalidInput(f"The group {new.group!r} is retired.", field="group")
        restricted = restricted or group["restricted"]
    slug = category_slug(new.group, new.name) if new.group else slugify(new.name)
    inserted = await conn.fetchval(
        _INSERT, school_id, slug, new.name, new.group, restricted, new.email_name
    )
    if inserted is None:
        raise Conflict(f"The category {slug!r} already exists.", field="name")
    return await _one_json(conn, school_id, slug)


async def change_category(
    conn: Connection, school_id: uuid.UUID, slug: str, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Applies `changes` (in the caller's transaction); returns (before, after)."""
    row = await conn.fetchrow(_ONE, school_id, slug)
    if row is None:
        raise NotFound("No such category.")
    before = as_json(row)
    after = {**before, **changes}
    _check_change(row, after)
    await conn.execute(
        _CHANGE, school_id, slug, after["email_name"], after["restricted"], after["retired"]
    )
    return before, await _one_json(conn, school_id, slug)


def _check_change(row: asyncpg.Record, after: dict[str, Any]) -> None:
    if not after["restricted"] and row["restricted"]:
        if row["group_restricted"]:
            raise InvalidInput("A category of a restricted group is restricted.", "restricted")
        if not row["custom"]:
            raise InvalidInput("A default restricted category stays restricted.", "restricted")
    if not after["retired"] and row["group_retired"]:
        raise InvalidInput("Its group is retired: bring the group back first.", "retired")


async def _one_json(conn: Connection, school_id: uuid.UUID, slug: str) -> dict[str, Any]:
    row = await conn.fetchrow(_ONE, school_id, slug)
    assert row is not None  # noqa: S101 (written in this transaction)
    return as_json(row)


def as_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "slug": row["slug"],
        "name": row["name"],
        "group": row["parent_slug"],
        "restricted": row["restricted"],
        "email_name": row["email_name"],
        "retired": row["retired"],
        "custom": row["custom"],
    }


def _email_name(value: Any) -> str | None:
    if value is None:
        return None
    return fields.text(value, "email_name", max_len=MAX_NAME) or None


def _flag(payload: Any, key: str, default: bool) -> bool:
    value = payload.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false.", field=key)
    return value
