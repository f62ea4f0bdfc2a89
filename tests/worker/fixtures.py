"""The sample school (imported with ingest's roster import) and records written with SQL as
ingest stores them (the outbox contract in the common brief), so worker tests do not depend
on ingest's HTTP validation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg

from services.ingest.records.roster import import_roster, parse_roster
from services.ingest.records.schools import create_school
from tests.support.roster import roster


@dataclass
class School:
    id: uuid.UUID
    staff: dict[str, uuid.UUID] = field(default_factory=dict)
    pupils: dict[str, uuid.UUID] = field(default_factory=dict)
    classes: dict[str, uuid.UUID] = field(default_factory=dict)


async def seed_school(conn: asyncpg.Connection, name: str = "Worker Primary") -> School:
    """The sample roster, imported the way `beacon admin import` does it."""
    async with conn.transaction():
        school = School(await create_school(conn, name))
        await import_roster(conn, school.id, parse_roster(roster()))
    for table, ids in (
        ("staff", school.staff),
        ("pupils", school.pupils),
        ("classes", school.classes),
    ):
        rows = await conn.fetch(
            f"SELECT external_id, id FROM {table} WHERE school_id = $1", school.id
        )
        ids.update({r["external_id"]: r["id"] for r in rows})
    return school


async def record_incident(
    conn: asyncpg.Connection,
    school: School,
    author: str,
    pupil: str,
    categories: Iterable[str],
    linked: Iterable[str] = (),
    named: Iterable[str] = (),
) -> tuple[uuid.UUID, int]:
    """Incident + children + its outbox event in one transaction; returns (incident, event)."""
    categories = list(categories)
    async with conn.transaction():
        restricted = await conn.fetchval(
            "SELECT bool_or(restricted) FROM categories WHERE school_id = $1 AND slug = ANY($2)",
            school.id,
            categories,
        )
        incident = await conn.fetchval(
            """INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, description,
                                      restricted)
               VALUES ($1, $2, $3, now(), 'test write-up', $4) RETURNING id""",
            school.id,
            school.pupils[pupil],
            school.staff[author],
            restricted,
        )
        for slug in categories:
            await conn.execute(
                "INSERT INTO incident_categories VALUES ($1, $2, $3)", school.id, incident, slug
            )
        for p in linked:
            await conn.execute(
                "INSERT INTO incident_linked_pupils VALUES ($1, $2, $3)",
                school.id,
                incident,
                school.pupils[p],
            )
        for s in named:
            await conn.execute(
                "INSERT INTO incident_alert_staff VALUES ($1, $2, $3)",
                school.id,
                incident,
                school.staff[s],
            )
        event = await conn.fetchval(
            """INSERT INTO alert_events (school_id, kind, incident_id, priority)
               VALUES ($1, 'incident', $2, $3) RETURNING id""",
            school.id,
            incident,
            1 if restricted else 0,
        )
    return incident, event


async def record_action(
    conn: asyncpg.Connection,
    school: School,
    incident: uuid.UUID,
    author: str,
    named: Iterable[str] = (),
) -> int:
    async with conn.transaction():
        action = await conn.fetchval(
            """INSERT INTO actions (school_id, incident_id, author_id, description)
               VALUES ($1, $2, $3, 'spoke to parent') RETURNING id""",
            school.id,
            incident,
            school.staff[author],
        )
        for s in named:
            await conn.execute(
                "INSERT INTO action_alert_staff VALUES ($1, $2, $3)",
                school.id,
                action,
                school.staff[s],
            )
        return await conn.fetchval(  # type: ignore[no-any-return]
            """INSERT INTO alert_events (school_id, kind, incident_id, action_id, priority)
               SELECT $1, 'action', $2, $3, CASE WHEN restricted THEN 1 ELSE 0 END
               FROM incidents WHERE id = $2 RETURNING id""",
            school.id,
            incident,
            action,
        )


async def recipients(conn: asyncpg.Connection, event_id: int) -> set[str]:
    rows = await conn.fetch(
        """SELECT s.external_id FROM alerts a JOIN staff s ON s.id = a.recipient_id
           WHERE a.event_id = $1""",
        event_id,
    )
    return {r["external_id"] for r in rows}


async def grants(conn: asyncpg.Connection, incident: uuid.UUID) -> set[str]:
    rows = await conn.fetch(
        """SELECT s.external_id FROM incident_access_grants g JOIN staff s ON s.id = g.staff_id
           WHERE g.incident_id = $1""",
        incident,
    )
    return {r["external_id"] for r in rows}
