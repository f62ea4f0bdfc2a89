"""Staff accounts as a school's admin sees them: roles, last sign-in and devices; making someone
inactive; and the privileged roles waiting for the head or a DSL (pending_roles, filled by the
roster import: records.roster).

Deciding a pending role is a guarded update (only an open request is decided, once), and the
person who decides is never the one the role is for, nor the admin who asked for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from shared.database import Connection
from shared.domain import Role

# Who confirms power: the head or a DSL (elevated; the views check that).
CONFIRMERS = frozenset({Role.HEAD, Role.DSL})

_STAFF = """
SELECT s.id, s.external_id, s.email, s.first_name, s.last_name, s.roles, s.active,
       s.outside_roster,
       (SELECT max(a.at) FROM audit_log a
        WHERE a.actor_staff_id = s.id AND a.action = 'login.success') AS last_sign_in,
       ARRAY(SELECT d.id FROM totp_devices d WHERE d.staff_id = s.id
             AND d.confirmed_at IS NOT NULL AND d.removed_at IS NULL
             ORDER BY d.confirmed_at) AS device_ids,
       ARRAY(SELECT d.name FROM totp_devices d WHERE d.staff_id = s.id
             AND d.confirmed_at IS NOT NULL AND d.removed_at IS NULL
             ORDER BY d.confirmed_at) AS device_names,
       ARRAY(SELECT p.role FROM pending_roles p WHERE p.staff_id = s.id
             AND p.decided_at IS NULL ORDER BY p.role) AS pending
FROM staff s WHERE s.school_id = $1
ORDER BY s.active DESC, s.last_name, s.first_name, s.external_id
"""


async def list_staff(conn: Connection, school_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(_STAFF, school_id)


async def find_staff(
    conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT id, external_id, email, first_name, last_name, roles, active FROM staff
           WHERE school_id = $1 AND id = $2""",
        school_id,
        staff_id,
    )


async def deactivate(conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
    """Make an active member of staff inactive (False: not active, or not of this school).
    The roster makes them active again if the MIS still lists them."""
    return (
        await conn.fetchval(
            """UPDATE staff SET active = false, updated_at = now()
               WHERE school_id = $1 AND id = $2 AND active RETURNING true""",
            school_id,
            staff_id,
        )
        is not None
    )


# -- Pending roles -----------------------------------------------------------------------------

_PENDING = """
SELECT p.id, p.role, p.requested_at, p.requested_by, p.requester_id, p.staff_id,
       s.external_id, s.first_name, s.last_name, s.roles
FROM pending_roles p JOIN staff s ON s.id = p.staff_id
WHERE p.school_id = $1 AND p.decided_at IS NULL AND s.active
ORDER BY p.requested_at, s.last_name, p.role
"""


async def pending_roles(conn: Connection, school_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(_PENDING, school_id)


@dataclass(frozen=True, slots=True)
class Decided:
    staff_id: uuid.UUID
    role: str
    decision: str
    roles_before: list[str]
    roles_after: list[str]


_DECIDE = """
UPDATE pending_roles p SET decided_at = now(), decision = $3, decided_by = $4
FROM staff s
WHERE p.id = $2 AND p.school_id = $1 AND p.decided_at IS NULL AND s.id = p.staff_id AND s.active
  AND p.staff_id <> $4 AND p.requester_id IS DISTINCT FROM $4
RETURNING p.staff_id, p.role, s.roles
"""
_GRANT = """
UPDATE staff SET roles = ARRAY(SELECT DISTINCT r FROM unnest(roles || $2::text) AS r ORDER BY r),
       updated_at = now()
WHERE id = $1 RETURNING roles
"""


async def decide_role(
    conn: Connection, school_id: uuid.UUID, pending_id: uuid.UUID, by: uuid.UUID, confirm: bool
) -> Decided | None:
    """Confirm (the role is added to the person's roles) or decline an open request; None
    when there is no such open request that `by` may decide."""
    decision = "confirmed" if confirm else "declined"
    row = await conn.fetchrow(_DECIDE, school_id, pending_id, decision, by)
    if row is None:
        return None
    before = list(row["roles"])
    after = list(await conn.fetchval(_GRANT, row["staff_id"], row["role"])) if confirm else before
    return Decided(row["staff_id"], row["role"], decision, before, after)


async def may_confirm(conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
    """An active head or DSL of the school (the views also ask for elevation)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT FROM staff WHERE id = $1 AND school_id = $2 AND active
                              AND roles && $3::text[])""",
            staff_id,
            school_id,
            sorted(CONFIRMERS),
        )
    )


async def create_first_admin(
    conn: Connection, school_id: uuid.UUID, email: str, first_name: str, last_name: str
) -> uuid.UUID:
    """The school's first admin, made with the school and outside the roster (external id
    ADMIN1): the roster's leavers step leaves them be until a row with their email adopts
    them."""
    initials = (first_name[:1] + last_name[:1]).upper() or "A"
    staff_id: uuid.UUID = await conn.fetchval(
        """INSERT INTO staff (school_id, external_id, email, first_name, last_name, initials,
                              roles, outside_roster)
           VALUES ($1, 'ADMIN1', $2, $3, $4, $5, ARRAY['admin'], true) RETURNING id""",
        school_id,
        email,
        first_name,
        last_name,
        initials,
    )
    return staff_id
