"""A pupil's chronology: their incidents and the actions on them, in the order they happened.

One use case for the JSON API and the staff page. Need-to-know stays in shared.access: the
viewer's visible incidents are worked out there from the pupil's incident facts (small rows),
and only those ids reach the entries query, so what a viewer may not see is left out entirely
(no row, no count, no gap in the paging). The entries themselves are filtered, ordered and
paged in SQL, over (at, kind, id): an incident at when it happened (`occurred_at`, so a paper
record typed up later sits in place), an action at when it was recorded, after its incident.
Every view is audited ("chronology.view") in the caller's transaction.

Also here: finding pupils for the pupil pages (by school id, by name, a teacher's own).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from shared import access, audit
from shared.access import Viewer
from shared.database import Connection
from shared.problems import NotFound

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Filters:
    """`category` is a slug (a group matches its own categories too); `since` is inclusive,
    `before` exclusive."""

    category: str | None = None
    since: datetime | None = None
    before: datetime | None = None

    def audited(self) -> dict[str, str]:
        shown = {"category": self.category, "since": self.since, "before": self.before}
        return {k: v if isinstance(v, str) else v.isoformat() for k, v in shown.items() if v}


@dataclass(frozen=True, slots=True)
class Chronology:
    pupil: asyncpg.Record  # id, external_id, first_name, last_name
    entries: list[asyncpg.Record]
    total: int  # entries matching the filters, every page
    page: int
    pages: int
    incident_ids: list[uuid.UUID] = field(default_factory=list)  # those seen on this page


# The visible incidents the category filter keeps and their actions, each at its time, within
# the dates: what a page lists and what the count counts. Each incident is read once (`shown`
# carries its time): joining incidents again cost half the query.
# $1 visible incident ids, $2 category slug, $3 since, $4 before
_MATCHING = """
WITH shown AS (
  SELECT i.id, i.occurred_at FROM incidents i
  WHERE i.id = ANY($1::uuid[])
    AND ($2::text IS NULL OR EXISTS (
          SELECT 1 FROM incident_categories c
          WHERE c.incident_id = i.id
            AND (c.category_slug = $2 OR starts_with(c.category_slug, $2 || '/'))))
), entries AS (
  SELECT 'incident' AS kind, s.id, s.id AS incident_id, s.occurred_at AS at FROM shown s
  UNION ALL
  SELECT 'action', x.id, x.incident_id, x.recorded_at
  FROM actions x JOIN shown s ON s.id = x.incident_id
), matching AS (
  SELECT * FROM entries
  WHERE ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
)"""

# One page of them, in order, with what a page or the API shows. $5 limit (NULL: all), $6 offset
_ENTRIES = f"""{_MATCHING}, page AS (
  -- total: every entry the filters match (the window is counted before the LIMIT)
  SELECT *, count(*) OVER () AS total FROM matching
  ORDER BY at, kind = 'action', id
  LIMIT $5 OFFSET $6
)
SELECT e.kind, e.id, e.total, e.incident_id, e.at, i.reference, i.restricted, i.pupil_id,
       coalesce(x.recorded_at, i.recorded_at) AS recorded_at,
       coalesce(x.description, i.description) AS description,
       p.external_id AS pupil, p.first_name || ' ' || p.last_name AS pupil_name,
       a.external_id AS author, a.first_name || ' ' || a.last_name AS author_name,
       ARRAY(SELECT c.category_slug FROM incident_categories c WHERE c.incident_id = i.id
             ORDER BY c.category_slug) AS categories,
       ARRAY(SELECT coalesce(g.name || ': ', '') || c.name
             FROM incident_categories ic
             JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE ic.incident_id = i.id ORDER BY ic.category_slug) AS category_names
FROM page e
JOIN incidents i ON i.id = e.incident_id
JOIN pupils p ON p.id = i.pupil_id
LEFT JOIN actions x ON e.kind = 'action' AND x.id = e.id
JOIN staff a ON a.id = coalesce(x.author_id, i.author_id)
ORDER BY e.at, e.kind = 'action', e.id
"""  # noqa: S608 (constant text, no input)

_COUNT = f"{_MATCHING} SELECT count(*) FROM matching"  # noqa: S608 (constant text)

_PUPIL = """SELECT id, external_id, first_name, last_name FROM pupils
WHERE school_id = $1 AND external_id = $2"""


async def find_pupil(conn: Connection, school_id: uuid.UUID, external_id: str) -> Any:
    """The pupil with the school's id `external_id` (id, external_id, names), or None."""
    return await conn.fetchrow(_PUPIL, school_id, external_id)


async def view_chronology(
    conn: Connection,
    viewer: Viewer,
    pupil: asyncpg.Record,
    filters: Filters = Filters(),  # noqa: B008 (frozen)
    page: int | None = None,
    ip: str | None = None,
    size: int = PAGE_SIZE,
) -> Chronology:
    """What `viewer` may see of the pupil's chronology; `page` (from 1) of `size` entries,
    or every entry when None. Raises NotFound when the viewer may not see the pupil."""
    if not access.can_view_pupil(viewer, viewer.school_id, pupil["id"]):
        raise NotFound("No such pupil.")
    facts = await access.pupil_incident_facts(conn, viewer.school_id, pupil["id"])
    viewer = await access.with_incident_grants(conn, viewer, (f.id for f in facts))
    visible = [f.id for f in access.visible_incidents(viewer, facts)]
    if page is None:
        entries = await _entries(conn, visible, filters, None, 0)
        total, pages = len(entries), 1
    else:
        page = max(page, 1)
        entries = await _entries(conn, visible, filters, size, (page - 1) * size)
        # Each row carries the total; a page past the end has no rows, so count, and show
        # the last page instead.
        total = entries[0]["total"] if entries else await _count(conn, visible, filters)
        pages = max(1, -(-total // size))
        if page > pages:
            page = pages
            entries = await _entries(conn, visible, filters, size, (page - 1) * size)
    seen = list(dict.fromkeys(e["incident_id"] for e in entries))
    await _audit(conn, viewer, pupil, seen, filters, page, ip)
    return Chronology(pupil, entries, total, page or 1, pages, seen)


async def _count(conn: Connection, visible: list[uuid.UUID], filters: Filters) -> int:
    if not visible:
        return 0
    total: int = await conn.fetchval(_COUNT, visible, *_filter_args(filters))
    return total


async def _entries(
    conn: Connection, visible: list[uuid.UUID], filters: Filters, limit: int | None, offset: int
) -> list[asyncpg.Record]:
    if not visible:
        return []
    rows: list[asyncpg.Record] = await conn.fetch(
        _ENTRIES, visible, *_filter_args(filters), limit, offset
    )
    return rows


def _filter_args(filters: Filters) -> tuple[Any, ...]:
    return filters.category, filters.since, filters.before


async def _audit(
    conn: Connection,
    viewer: Viewer,
    pupil: asyncpg.Record,
    seen: list[uuid.UUID],
    filters: Filters,
    page: int | None,
    ip: str | None,
) -> None:
    detail: dict[str, audit.JsonValue] = {"incidents": [str(i) for i in seen]}
    if page is not None:
        detail["page"] = page
    if filters.audited():
        detail["filters"] = filters.audited()
    await audit.append(
        conn,
        school_id=viewer.school_id,
        actor_staff_id=viewer.staff_id,
        actor_api_key_id=viewer.api_key_id,
        action="chronology.view",
        subject_type="pupil",
        subject_id=pupil["id"],
        ip=ip,
        detail=detail,
    )


# -- Finding pupils ------------------------------------------------------------------------

SEARCH_LIMIT = 50

_PUPIL_COLUMNS = """p.external_id, p.first_name, p.last_name,
  ARRAY(SELECT c.name FROM pupil_classes pc JOIN classes c ON c.id = pc.class_id AND c.active
        WHERE pc.pupil_id = p.id ORDER BY c.name) AS classes"""

# Served by pupils_name (school_id, lower(last_name), lower(first_name)): one school's pupils,
# in name order; prefixes of either name, or the school's own pupil id.
_SEARCH = f"""SELECT {_PUPIL_COLUMNS} FROM pupils p
WHERE p.school_id = $1 AND p.active
  AND (lower(p.last_name) LIKE $2 OR lower(p.first_name) LIKE $2 OR p.external_id = $3)
ORDER BY lower(p.last_name), lower(p.first_name), p.external_id
LIMIT $4"""  # noqa: S608 (constant text, no input)

_OWN = f"""SELECT {_PUPIL_COLUMNS} FROM pupils p
WHERE p.id = ANY($1::uuid[])
  AND ($2::text IS NULL OR lower(p.last_name) LIKE $2 OR lower(p.first_name) LIKE $2
       OR p.external_id = $3)
ORDER BY lower(p.last_name), lower(p.first_name), p.external_id
LIMIT $4"""  # noqa: S608 (constant text, no input)


async def search_pupils(conn: Connection, viewer: Viewer, q: str) -> list[asyncpg.Record]:
    """Whole-school search by name prefix (case-insensitive) or pupil id, for a viewer who sees
    the whole school; anyone else gets their own pupils (matching `q` when given)."""
    q = q.strip()
    prefix = _like_prefix(q) if q else None
    if viewer.sees_whole_school:
        if not q:
            return []
        rows = await conn.fetch(_SEARCH, viewer.school_id, prefix, q, SEARCH_LIMIT)
    else:
        taught = list(viewer.taught_pupil_ids)
        rows = await conn.fetch(_OWN, taught, prefix, q, 500)
    return list(rows)


def _like_prefix(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


# -- What a chronology can be filtered by ------------------------------------------------------

_CATEGORIES = """
SELECT c.slug, c.name, c.parent_slug, g.name AS group_name
FROM categories c LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
WHERE c.school_id = $1 AND ($2 OR NOT (c.restricted OR coalesce(g.restricted, false)))
ORDER BY coalesce(g.name, c.name), c.parent_slug IS NOT NULL, c.name"""


async def filter_categories(
    conn: Connection, viewer: Viewer
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The school's categories by group: [(group name, [(slug, label)])], the group itself
    first. Restricted ones only for a viewer who sees the whole school."""
    rows = await conn.fetch(_CATEGORIES, viewer.school_id, viewer.sees_whole_school)
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        if r["parent_slug"] is None:
            groups.setdefault(r["name"], []).insert(0, (r["slug"], f"All of {r['name']}"))
        else:
            groups.setdefault(r["group_name"], []).append((r["slug"], r["name"]))
    return list(groups.items())
