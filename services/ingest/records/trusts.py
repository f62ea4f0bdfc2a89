"""Trusts: a trust runs several schools; a school belongs to at most one. Its central team
(trust_admins: staff of one of its schools) administers every school of the trust, and
nothing else (shared.auth.administrators)."""

from __future__ import annotations

import uuid

import asyncpg

from shared.database import Connection
from shared.problems import InvalidInput, NotFound


async def create_trust(conn: Connection, name: str) -> uuid.UUID:
    trust_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO trusts (name) VALUES ($1) RETURNING id", name
    )
    return trust_id


async def school_trust(conn: Connection, school_id: uuid.UUID) -> uuid.UUID | None:
    """The school's trust (None: none); NotFound for no such school."""
    row = await conn.fetchrow("SELECT trust_id FROM schools WHERE id = $1", school_id)
    if row is None:
        raise NotFound("No such school.")
    trust_id: uuid.UUID | None = row["trust_id"]
    return trust_id


async def set_school_trust(
    conn: Connection, school_id: uuid.UUID, trust_id: uuid.UUID | None
) -> None:
    """Put the school in a trust (or in none). Leaving a trust ends its central team's hold on
    the school at once: the rule joins on schools.trust_id."""
    if trust_id is not None and not await exists(conn, trust_id):
        raise InvalidInput("No such trust.", field="trust")
    await conn.execute("UPDATE schools SET trust_id = $2 WHERE id = $1", school_id, trust_id)


async def add_trust_admin(
    conn: Connection, trust_id: uuid.UUID, school_id: uuid.UUID, external_id: str
) -> uuid.UUID:
    """Make a member of staff of one of the trust's schools a trust admin; their staff id."""
    if not await exists(conn, trust_id):
        raise NotFound("No such trust.")
    staff_id: uuid.UUID | None = await conn.fetchval(
        """SELECT s.id FROM staff s JOIN schools sc ON sc.id = s.school_id
           WHERE sc.id = $1 AND sc.trust_id = $2 AND s.external_id = $3 AND s.active""",
        school_id,
        trust_id,
        external_id,
    )
    if staff_id is None:
        raise InvalidInput("No such member of staff in a school of this trust.", field="staff")
    await conn.execute(
        "INSERT INTO trust_admins (trust_id, staff_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        trust_id,
        staff_id,
    )
    return staff_id


async def administered_schools(conn: Connection, staff_id: uuid.UUID) -> list[asyncpg.Record]:
    """(id, name) of every school this member of staff administers: their own when they hold
    the admin role, and each school of any trust whose central team they are on."""
    return await conn.fetch(
        """SELECT sc.id, sc.name FROM staff s JOIN schools sc ON sc.id = s.school_id
           WHERE s.id = $1 AND s.active AND 'admin' = ANY(s.roles)
           UNION
           SELECT sc.id, sc.name FROM staff s
           JOIN trust_admins t ON t.staff_id = s.id
           JOIN schools own ON own.id = s.school_id AND own.trust_id = t.trust_id
           JOIN schools sc ON sc.trust_id = t.trust_id
           WHERE s.id = $1 AND s.active
           ORDER BY name""",
        staff_id,
    )


async def trust_schools(conn: Connection, trust_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, name FROM schools WHERE trust_id = $1 ORDER BY name, id", trust_id
    )


async def is_trust_admin(conn: Connection, trust_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
    """An active member of the trust's central team whose own school is still the trust's."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT FROM trust_admins t JOIN staff s ON s.id = t.staff_id
                              JOIN schools own ON own.id = s.school_id
                              WHERE t.trust_id = $1 AND t.staff_id = $2 AND s.active
                                AND own.trust_id = t.trust_id)""",
            trust_id,
            staff_id,
        )
    )


async def exists(conn: Connection, trust_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM trusts WHERE id = $1)", trust_id))
