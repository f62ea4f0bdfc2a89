"""What the staff pages draw for incidents: pupils to pick, the school's categories in their
groups, staff to alert, and an incident with names rather than ids. Read-only; the caller
decides who may see what (shared.access) before calling `incident_page`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg

from services.ingest.records.incidents import STATEMENT_TIMEOUT
from shared.database import Connection

MAX_PUPILS_LISTED = 2000

_PUPILS = """
SELECT external_id, first_name || ' ' || last_name AS name, last_name, first_name
FROM pupils
WHERE school_id = $1 AND active
  AND ($2 = '' OR lower(first_name || ' ' || last_name) LIKE '%' || $2 || '%' ESCAPE '\\'
       OR lower(last_name || ' ' || first_name) LIKE '%' || $2 || '%' ESCAPE '\\'
       OR lower(external_id) = $2)
ORDER BY lower(last_name), lower(first_name), external_id
LIMIT $3"""

_PUPIL = """
SELECT external_id, first_name || ' ' || last_name AS name, last_name, first_name
FROM pupils WHERE school_id = $1 AND external_id = $2 AND active"""

_CATEGORIES = """
SELECT c.slug, c.name, c.parent_slug, c.restricted FROM categories c
WHERE c.school_id = $1 AND c.retired_at IS NULL ORDER BY lower(c.name), c.slug"""

_STAFF = """
SELECT id, external_id, first_name || ' ' || last_name AS name FROM staff
WHERE school_id = $1 AND active AND roles <> '{admin}' AND roles <> '{}'
ORDER BY lower(last_name), lower(first_name), external_id"""

_INCIDENT = """
SELECT i.id, i.reference, i.occurred_at, i.recorded_at, i.description, i.author_id,
       p.external_id AS pupil_ref, p.first_name || ' ' || p.last_name AS pupil,
       s.first_name || ' ' || s.last_name AS author,
       (i.restricted OR EXISTS (SELECT FROM incident_category_moves m WHERE m.incident_id = i.id))
           AS restricted,
       ARRAY(SELECT coalesce(g.name || ': ', '') || c.name FROM incident_categories ic
             JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE ic.incident_id = i.id ORDER BY ic.category_slug) AS categories,
       ARRAY(SELECT coalesce(g.name || ': ', '') || c.name FROM incident_category_moves m
             JOIN categories c ON c.school_id = m.school_id AND c.slug = m.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE m.incident_id = i.id ORDER BY m.moved_at) AS moved_into,
       ARRAY(SELECT lp.first_name || ' ' || lp.last_name || ' (' || lp.external_id || ')'
             FROM incident_linked_pupils l JOIN pupils lp ON lp.id = l.pupil_id
             WHERE l.incident_id = i.id ORDER BY lp.last_name, lp.first_name) AS linked_pupils,
       ARRAY(SELECT agency FROM incident_agencies a WHERE a.incident_id = i.id
             ORDER BY position) AS agencies,
       ARRAY(SELECT st.first_name || ' ' || st.last_name FROM incident_alert_staff a
             JOIN staff st ON st.id = a.staff_id WHERE a.incident_id = i.id
             ORDER BY st.last_name, st.first_name) AS alert_staff
FROM incidents i JOIN pupils p ON p.id = i.pupil_id JOIN staff s ON s.id = i.author_id
WHERE i.school_id = $1 AND i.id = $2"""

_MARKS = """
SELECT view, region, note FROM body_map_marks WHERE incident_id = $1 ORDER BY position"""

_ACTIONS = """
SELECT a.id, a.description, a.recorded_at, s.first_name || ' ' || s.last_name AS author,
       ARRAY(SELECT st.first_name || ' ' || st.last_name FROM action_alert_staff x
             JOIN staff st ON st.id = x.staff_id WHERE x.action_id = a.id
             ORDER BY st.last_name, st.first_name) AS alert_staff
FROM actions a JOIN staff s ON s.id = a.author_id
WHERE a.school_id = $1 AND a.incident_id = $2 ORDER BY a.recorded_at, a.id"""

_FILES = """
SELECT f.id, f.filename, f.size_bytes, f.uploaded_at, s.first_name || ' ' || s.last_name AS by
FROM incident_files f JOIN staff s ON s.id = f.uploaded_by
WHERE f.school_id = $1 AND f.incident_id = $2 ORDER BY f.uploaded_at, f.id"""

_ALERTS = """
SELECT s.first_name || ' ' || s.last_name AS recipient, e.kind AS event, a.state, a.queued_at,
       a.sent_at, a.read_at, a.actioned_at
FROM alerts a JOIN staff s ON s.id = a.recipient_id JOIN alert_events e ON e.id = a.event_id
WHERE a.school_id = $1 AND a.incident_id = $2
ORDER BY a.queued_at, e.id, s.last_name, s.first_name"""


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str
    restricted: bool


@dataclass(slots=True)
class CategoryGroup:
    slug: str
    name: str
    restricted: bool
    categories: list[Category] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IncidentPage:
    incident: asyncpg.Record
    marks: list[asyncpg.Record]
    actions: list[asyncpg.Record]
    files: list[asyncpg.Record]


def _like(text: str) -> str:
    lowered = " ".join(text.lower().split())
    return lowered.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def find_pupils(
    conn: Connection, school_id: uuid.UUID, query: str = "", limit: int = MAX_PUPILS_LISTED
) -> list[asyncpg.Record]:
    """Active pupils whose name (either order) contains `query`, or whose id it is."""
    return await conn.fetch(_PUPILS, school_id, _like(query), limit, timeout=STATEMENT_TIMEOUT)


async def find_pupil(conn: Connection, school_id: uuid.UUID, ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_PUPIL, school_id, ref, timeout=STATEMENT_TIMEOUT)


async def category_groups(conn: Connection, school_id: uuid.UUID) -> list[CategoryGroup]:
    """Groups by name, each with its categories; a group with none is offered as itself. A
    category is restricted when it or its group is."""
    rows = await conn.fetch(_CATEGORIES, school_id, timeout=STATEMENT_TIMEOUT)
    groups = {
        r["slug"]: CategoryGroup(r["slug"], r["name"], r["restricted"])
        for r in rows
        if r["parent_slug"] is None
    }
    for r in rows:
        group = groups.get(r["parent_slug"] or "")
        if group is not None:
            group.categories.append(
                Category(r["slug"], r["name"], r["restricted"] or group.restricted)
            )
    for group in groups.values():
        if not group.categories:
            group.categories.append(Category(group.slug, group.name, group.restricted))
    return sorted(groups.values(), key=lambda g: g.name.lower())


async def active_staff(conn: Connection, school_id: uuid.UUID) -> list[asyncpg.Record]:
    """Everyone who can be alerted: active staff with a role beyond admin."""
    return await conn.fetch(_STAFF, school_id, timeout=STATEMENT_TIMEOUT)


async def incident_page(
    conn: Connection, school_id: uuid.UUID, incident_id: uuid.UUID
) -> IncidentPage | None:
    incident = await conn.fetchrow(_INCIDENT, school_id, incident_id, timeout=STATEMENT_TIMEOUT)
    if incident is None:
        return None
    return IncidentPage(
        incident=incident,
        marks=await conn.fetch(_MARKS, incident_id, timeout=STATEMENT_TIMEOUT),
        actions=await conn.fetch(_ACTIONS, school_id, incident_id, timeout=STATEMENT_TIMEOUT),
        files=await conn.fetch(_FILES, school_id, incident_id, timeout=STATEMENT_TIMEOUT),
    )


async def alert_states(
    conn: Connection, school_id: uuid.UUID, incident_id: uuid.UUID
) -> list[asyncpg.Record]:
    """Who was alerted about the incident (and its actions), with each alert's state."""
    return await conn.fetch(_ALERTS, school_id, incident_id, timeout=STATEMENT_TIMEOUT)
