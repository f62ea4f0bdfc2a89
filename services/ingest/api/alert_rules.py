"""Admin endpoints for a school's alert rules (rules are data; see services/worker/rules.py).

    GET /v1/schools/{school_id}/alert-rules -> 200 [{"id", "event_kind", "category", "roles",
                                                     "class_teachers"}]
    PUT /v1/schools/{school_id}/alert-rules    the full list (or {"rules": [...]}) -> 200 the
                                                same shape; replaces the school's rules at once

Need-to-know on restricted incidents is enforced by the worker whatever the rules say, so no
rule here can widen who hears about a safeguarding or SLT incident.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.context import database, path_id, state
from shared import fields
from shared.auth.api_keys import require_admin
from shared.database import Connection
from shared.domain import ROLES, EventKind
from shared.problems import InvalidInput, NotFound

PATH = "/v1/schools/{school_id}/alert-rules"
MAX_RULES = 200
EVENT_KINDS = (EventKind.INCIDENT.value, EventKind.ACTION.value)
_RULE_KEYS = frozenset({"id", "event_kind", "category", "roles", "class_teachers"})

_SELECT = """
SELECT id, event_kind, category_slug, roles, class_teachers FROM alert_rules
WHERE school_id = $1 ORDER BY event_kind DESC, category_slug NULLS FIRST, id
"""
# Locks the school row: two PUTs for one school replace in turn, never interleave.
_LOCK_SCHOOL = """
SELECT ARRAY(SELECT slug FROM categories WHERE school_id = s.id) AS slugs
FROM schools s WHERE s.id = $1 FOR UPDATE
"""
_INSERT = """
INSERT INTO alert_rules (school_id, event_kind, category_slug, roles, class_teachers)
VALUES ($1, $2, $3, $4, $5)
"""


@dataclass(frozen=True, slots=True)
class RuleInput:
    event_kind: str
    category: str | None
    roles: list[str]
    class_teachers: bool


async def get_rules(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    school_id = path_id(request, "school_id")
    async with database(request) as conn:
        if not await conn.fetchval("SELECT EXISTS (SELECT FROM schools WHERE id = $1)", school_id):
            raise NotFound("No such school.")
        return web.json_response(await _rules_json(conn, school_id))


async def put_rules(request: web.Request) -> web.Response:
    require_admin(request, state(request).settings.admin_token)
    school_id = path_id(request, "school_id")
    rules = parse_rules(await read_json(request, state(request).settings.max_body_bytes))
    async with database(request) as conn, conn.transaction():
        slugs = await conn.fetchval(_LOCK_SCHOOL, school_id)
        if slugs is None:
            raise NotFound("No such school.")
        _check_categories(rules, set(slugs))
        await conn.execute("DELETE FROM alert_rules WHERE school_id = $1", school_id)
        await conn.executemany(
            _INSERT,
            [(school_id, r.event_kind, r.category, r.roles, r.class_teachers) for r in rules],
        )
        return web.json_response(await _rules_json(conn, school_id))


def parse_rules(body: Any) -> list[RuleInput]:
    if isinstance(body, dict):
        fields.only_keys(body, frozenset({"rules"}), "")
        body = fields.required(body, "rules")
    return fields.listing(body, "rules", _rule, MAX_RULES)


def _rule(value: Any, path: str) -> RuleInput:
    payload = fields.obj(value, path)
    fields.only_keys(payload, _RULE_KEYS, path)
    kind = fields.required(payload, "event_kind", path)
    if kind not in EVENT_KINDS:
        raise InvalidInput(
            f"event_kind must be one of {', '.join(EVENT_KINDS)}.",
            field=fields.join(path, "event_kind"),
        )
    category = payload.get("category")
    if category is not None:
        category = fields.text(category, fields.join(path, "category"), max_len=200)
    roles_path = fields.join(path, "roles")
    roles = fields.unique(
        fields.listing(payload.get("roles", []), roles_path, _role, len(ROLES)), roles_path
    )
    class_teachers = payload.get("class_teachers", False)
    if not isinstance(class_teachers, bool):
        raise InvalidInput(
            "class_teachers must be true or false.", field=fields.join(path, "class_teachers")
        )
    return RuleInput(kind, category, roles, class_teachers)


def _role(value: Any, path: str) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise InvalidInput(
            f"Unknown role {value!r}; roles are {', '.join(sorted(ROLES))}.", field=path
        )
    return value


def _check_categories(rules: list[RuleInput], slugs: set[str]) -> None:
    for i, rule in enumerate(rules):
        if rule.category is not None and rule.category not in slugs:
            raise InvalidInput(
                f"Unknown category {rule.category!r} for this school.", field=f"rules[{i}].category"
            )


async def _rules_json(conn: Connection, school_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(_SELECT, school_id)
    return [
        {
            "id": str(r["id"]),
            "event_kind": r["event_kind"],
            "category": r["category_slug"],
            "roles": list(r["roles"]),
            "class_teachers": r["class_teachers"],
        }
        for r in rows
    ]
