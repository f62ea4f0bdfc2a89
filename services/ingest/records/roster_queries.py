"""SQL for the roster import, written out table by table. Rows travel as one jsonb array per
statement; each upsert touches a row only when a value differs, so a re-run changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from shared.database import Connection
from shared.problems import InvalidInput

UPSERT_STAFF = """
INSERT INTO staff (school_id, external_id, email, first_name, last_name, initials, roles)
SELECT $1, x.id, x.email, x.first_name, x.last_name, x.initials, x.roles
FROM jsonb_to_recordset($2::jsonb)
     AS x(id text, email text, first_name text, last_name text, initials text, roles text[])
ON CONFLICT (school_id, external_id) DO UPDATE
SET email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
    initials = EXCLUDED.initials, roles = EXCLUDED.roles, active = true, updated_at = now()
WHERE (staff.email, staff.first_name, staff.last_name, staff.initials, staff.roles, staff.active)
      IS DISTINCT FROM
      (EXCLUDED.email, EXCLUDED.first_name, EXCLUDED.last_name, EXCLUDED.initials,
       EXCLUDED.roles, true)
"""

UPSERT_CLASSES = """
INSERT INTO classes (school_id, external_id, name)
SELECT $1, x.id, x.name FROM jsonb_to_recordset($2::jsonb) AS x(id text, name text)
ON CONFLICT (school_id, external_id) DO UPDATE
SET name = EXCLUDED.name, active = true, updated_at = now()
WHERE (classes.name, classes.active) IS DISTINCT FROM (EXCLUDED.name, true)
"""

UPSERT_PUPILS = """
INSERT INTO pupils (school_id, external_id, first_name, last_name, date_of_birth)
SELECT $1, x.id, x.first_name, x.last_name, x.date_of_birth
FROM jsonb_to_recordset($2::jsonb)
     AS x(id text, first_name text, last_name text, date_of_birth date)
ON CONFLICT (school_id, external_id) DO UPDATE
SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
    date_of_birth = EXCLUDED.date_of_birth, active = true, updated_at = now()
WHERE (pupils.first_name, pupils.last_name, pupils.date_of_birth, pupils.active)
      IS DISTINCT FROM
      (EXCLUDED.first_name, EXCLUDED.last_name, EXCLUDED.date_of_birth, true)
"""

# Leavers: everyone active but absent from the import ($2 is the jsonb array of external ids),
# except staff made outside the roster (a school's first admin) until a row adopts them.
DEACTIVATE_STAFF = """
UPDATE staff SET active = false, updated_at = now()
WHERE school_id = $1 AND active AND NOT outside_roster AND NOT $2::jsonb ? external_id
"""
DEACTIVATE_CLASSES = """
UPDATE classes SET active = false, updated_at = now()
WHERE school_id = $1 AND active AND NOT $2::jsonb ? external_id
"""
DEACTIVATE_PUPILS = """
UPDATE pupils SET active = false, updated_at = now()
WHERE school_id = $1 AND active AND NOT $2::jsonb ? external_id
"""

# Links are replaced by exactly the import's pairs ($2: [{"a": left id, "b": right id}]).
REPLACE_CLASS_TEACHERS = (
    """WITH wanted AS (
           SELECT c.id AS class_id, s.id AS staff_id
           FROM jsonb_to_recordset($2::jsonb) AS x(a text, b text)
           JOIN classes c ON c.school_id = $1 AND c.external_id = x.a
           JOIN staff s ON s.school_id = $1 AND s.external_id = x.b)
       DELETE FROM class_teachers WHERE school_id = $1
         AND (class_id, staff_id) NOT IN (SELECT class_id, staff_id FROM wanted)""",
    """INSERT INTO class_teachers (school_id, class_id, staff_id)
       SELECT $1, c.id, s.id
       FROM jsonb_to_recordset($2::jsonb) AS x(a text, b text)
       JOIN classes c ON c.school_id = $1 AND c.external_id = x.a
       JOIN staff s ON s.school_id = $1 AND s.external_id = x.b
       ON CONFLICT DO NOTHING""",
)
REPLACE_PUPIL_CLASSES = (
    """WITH wanted AS (
           SELECT p.id AS pupil_id, c.id AS class_id
           FROM jsonb_to_recordset($2::jsonb) AS x(a text, b text)
           JOIN pupils p ON p.school_id = $1 AND p.external_id = x.a
           JOIN classes c ON c.school_id = $1 AND c.external_id = x.b)
       DELETE FROM pupil_classes WHERE school_id = $1
         AND (pupil_id, class_id) NOT IN (SELECT pupil_id, class_id FROM wanted)""",
    """INSERT INTO pupil_classes (school_id, pupil_id, class_id)
       SELECT $1, p.id, c.id
       FROM jsonb_to_recordset($2::jsonb) AS x(a text, b text)
       JOIN pupils p ON p.school_id = $1 AND p.external_id = x.a
       JOIN classes c ON c.school_id = $1 AND c.external_id = x.b
       ON CONFLICT DO NOTHING""",
)


# A roster row whose email is that of a member of staff made outside the roster (the first
# admin) takes them over: their external id becomes the roster's, and the roster owns them.
ADOPT_OUTSIDERS = """
UPDATE staff SET external_id = x.id, outside_roster = false
FROM jsonb_to_recordset($2::jsonb) AS x(id text, email text)
WHERE staff.school_id = $1 AND staff.outside_roster AND lower(staff.email) = lower(x.email)
  AND NOT EXISTS (SELECT FROM staff o WHERE o.school_id = $1 AND o.external_id = x.id)
"""

# Whether power already has a second pair of eyes: an active head or DSL.
GUARDED = """
SELECT EXISTS (SELECT FROM staff WHERE school_id = $1 AND active
               AND roles && ARRAY['head', 'dsl']::text[])
"""
HELD_ROLES = "SELECT external_id, roles FROM staff WHERE school_id = $1"

# Privileged roles waiting for the head or a DSL ($2: [{"a": external id, "b": role}]): asked
# once (an open request stays as it is), and withdrawn when the import no longer gives them.
REQUEST_ROLES = """
INSERT INTO pending_roles (school_id, staff_id, role, requested_by, requester_id)
SELECT $1, s.id, x.b, $3, $4
FROM jsonb_to_recordset($2::jsonb) AS x(a text, b text)
JOIN staff s ON s.school_id = $1 AND s.external_id = x.a
ON CONFLICT (staff_id, role) WHERE decided_at IS NULL DO NOTHING
RETURNING staff_id, role
"""
WITHDRAW_ROLES = """
UPDATE pending_roles p SET decided_at = now(), decision = 'withdrawn'
FROM staff s
WHERE p.school_id = $1 AND p.decided_at IS NULL AND s.id = p.staff_id
  AND NOT $2::jsonb @> jsonb_build_array(jsonb_build_object('a', s.external_id, 'b', p.role))
RETURNING p.staff_id, p.role
"""


async def upsert(
    conn: Connection,
    upsert_sql: str,
    deactivate_sql: str,
    school_id: uuid.UUID,
    rows: list[dict[str, Any]],
    table: str,
    keep: list[str] | None = None,
) -> None:
    """Upsert `rows`; then make inactive whoever is in neither `rows` nor `keep`."""
    try:
        await conn.execute(upsert_sql, school_id, json.dumps(rows))
    except asyncpg.UniqueViolationError as e:
        # Only staff emails can collide here: e.g. a new starter given a leaver's address.
        raise InvalidInput(
            f"A row collides with an existing one: {e.detail}", field=table
        ) from None
    present = [r["id"] for r in rows] + list(keep or [])
    await conn.execute(deactivate_sql, school_id, json.dumps(present))


async def replace_links(
    conn: Connection,
    statements: tuple[str, str],
    school_id: uuid.UUID,
    pairs: list[dict[str, str]],
) -> None:
    payload = json.dumps(pairs)
    for sql in statements:
        await conn.execute(sql, school_id, payload)
