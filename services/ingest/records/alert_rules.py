"""A school's alert rules (rules are data; matching them is shared.rules, the worker's own
function): reading, replacing them at once, and previewing who an incident would alert.

Need-to-know on restricted incidents is enforced by the rule function whatever the rules say,
so no rule here can widen who hears about a safeguarding or SLT incident, and the preview
shows exactly that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared import fields, rules
from shared.database import Connection
from shared.domain import ROLES, EventKind, category_groups
from shared.problems import InvalidInput, NotFound

MAX_RULES = 200
EVENT_KINDS = (EventKind.INCIDENT.value, EventKind.ACTION.value)
_RULE_KEYS = frozenset({"id", "event_kind", "category", "roles", "class_teachers"})

_SELECT = """
SELECT id, event_kind, category_slug, roles, class_teachers FROM alert_rules
WHERE school_id = $1 ORDER BY event_kind DESC, category_slug NULLS FIRST, id
"""
# Locks the school row: two replacements for one school apply in turn, never interleave.
_LOCK_SCHOOL = """
SELECT ARRAY(SELECT slug FROM categories WHERE school_id = s.id) AS slugs
FROM schools s WHERE s.id = $1 FOR UPDATE
"""
_INSERT = """
INSERT INTO alert_rules (school_id, event_kind, category_slug, roles, class_teachers)
VALUES ($1, $2, $3, $4, $5)
"""
# Who holds the roles, and (when asked) the class's teachers: as the worker picks recipients.
_PEOPLE = """
WITH teachers AS (
    SELECT ct.staff_id FROM class_teachers ct JOIN classes c ON c.id = ct.class_id
    WHERE c.school_id = $1 AND c.external_id = $4 AND c.active)
SELECT s.first_name || ' ' || s.last_name AS name, s.roles,
       s.id IN (SELECT staff_id FROM teachers) AS teaches
FROM staff s
WHERE s.school_id = $1 AND s.active
  AND (s.roles && $2::text[] OR ($3 AND s.id IN (SELECT staff_id FROM teachers)))
ORDER BY lower(s.last_name), lower(s.first_name)
"""


@dataclass(frozen=True, slots=True)
class RuleInput:
    event_kind: str
    category: str | None
    roles: list[str]
    class_teachers: bool


@dataclass(frozen=True, slots=True)
class Preview:
    audience: rules.Audience
    restricted: bool
    people: list[asyncpg.Record]


def parse_rules(body: Any) -> list[RuleInput]:
    """The full list, or {"rules": [...]}; 422 naming the field at fault."""
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


def check_categories(rules_in: list[RuleInput], slugs: set[str]) -> None:
    for i, rule in enumerate(rules_in):
        if rule.category is not None and rule.category not in slugs:
            raise InvalidInput(
                f"Unknown category {rule.category!r} for this school.", field=f"rules[{i}].category"
            )


async def replace_rules(
    conn: Connection, school_id: uuid.UUID, rules_in: list[RuleInput]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Replaces the school's rules at once (in the caller's transaction); (before, after)."""
    slugs = await conn.fetchval(_LOCK_SCHOOL, school_id)
    if slugs is None:
        raise NotFound("No such school.")
    check_categories(rules_in, set(slugs))
    before = await rules_json(conn, school_id)
    await conn.execute("DELETE FROM alert_rules WHERE school_id = $1", school_id)
    await conn.executemany(
        _INSERT,
        [(school_id, r.event_kind, r.category, r.roles, r.class_teachers) for r in rules_in],
    )
    return before, await rules_json(conn, school_id)


async def rules_json(conn: Connection, school_id: uuid.UUID) -> list[dict[str, Any]]:
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


def as_rules(listed: list[dict[str, Any]]) -> list[rules.Rule]:
    return [
        rules.Rule(r["event_kind"], r["category"], frozenset(r["roles"]), r["class_teachers"])
        for r in listed
    ]


async def preview(
    conn: Connection,
    school_id: uuid.UUID,
    category: str,
    class_ref: str,
    restricted_slugs: set[str],
) -> Preview:
    """Who an incident in `category` about a pupil of class `class_ref` would alert now: the
    worker's own rule function over the school's rules, then who holds those roles."""
    school_rules = as_rules(await rules_json(conn, school_id))
    restricted = bool(category_groups({category}) & restricted_slugs)
    found = rules.event_audience(school_rules, EventKind.INCIDENT, 0, [category], restricted)
    people = await conn.fetch(
        _PEOPLE, school_id, sorted(found.roles), found.class_teachers, class_ref
    )
    return Preview(found, restricted, people)


async def classes(conn: Connection, school_id: uuid.UUID) -> list[asyncpg.Record]:
    """The school's active classes, for the preview's choice of a pupil's class."""
    return await conn.fetch(
        """SELECT external_id, name FROM classes WHERE school_id = $1 AND active
           ORDER BY lower(name), external_id""",
        school_id,
    )
