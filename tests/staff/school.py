"""A sample school for staff-access tests, written straight into PostgreSQL.

Uses tests.support.roster's people; plain SQL so these tests do not depend on the roster import
(the lead may switch this to services.ingest.records.roster.import_roster)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.ingest.records.schools import create_school
from tests.support.roster import roster


@dataclass
class School:
    id: uuid.UUID
    name: str
    staff: dict[str, uuid.UUID] = field(default_factory=dict)  # external id -> id
    emails: dict[str, str] = field(default_factory=dict)  # external id -> email
    pupils: dict[str, uuid.UUID] = field(default_factory=dict)
    classes: dict[str, uuid.UUID] = field(default_factory=dict)


async def make_school(
    conn: asyncpg.Connection,
    name: str = "Oakfield Primary School",
    email_domain: str = "school.example",
) -> School:
    school = School(await create_school(conn, name), name)
    data = roster()
    for s in data["staff"]:
        email = s["email"].replace("school.example", email_domain)
        school.staff[s["id"]] = await conn.fetchval(
            """INSERT INTO staff (school_id, external_id, email, first_name, last_name, initials,
               roles) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            school.id,
            s["id"],
            email,
            s["first_name"],
            s["last_name"],
            s["initials"],
            s["roles"],
        )
        school.emails[s["id"]] = email
    for c in data["classes"]:
        school.classes[c["id"]] = await conn.fetchval(
            "INSERT INTO classes (school_id, external_id, name) VALUES ($1, $2, $3) RETURNING id",
            school.id,
            c["id"],
            c["name"],
        )
        for t in c["teachers"]:
            await conn.execute(
                "INSERT INTO class_teachers (school_id, class_id, staff_id) VALUES ($1, $2, $3)",
                school.id,
                school.classes[c["id"]],
                school.staff[t],
            )
    for p in data["pupils"]:
        school.pupils[p["id"]] = await conn.fetchval(
            """INSERT INTO pupils (school_id, external_id, first_name, last_name)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            school.id,
            p["id"],
            p["first_name"],
            p["last_name"],
        )
        for c in p["classes"]:
            await conn.execute(
                "INSERT INTO pupil_classes (school_id, pupil_id, class_id) VALUES ($1, $2, $3)",
                school.id,
                school.pupils[p["id"]],
                school.classes[c],
            )
    return school


async def add_incident(
    conn: asyncpg.Connection,
    school: School,
    pupil: str,
    author: str,
    restricted: bool,
    description: str = "write-up",
    alert: tuple[str, ...] = (),
    at: datetime | None = None,
) -> uuid.UUID:
    """An incident row (plus named staff and their access grants) without the ingest API."""
    incident_id: uuid.UUID = await conn.fetchval(
        """INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, description,
           restricted) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        school.id,
        school.pupils[pupil],
        school.staff[author],
        at or datetime.now(UTC),
        description,
        restricted,
    )
    category = "safeguarding/cp-plan" if restricted else "behaviour/negative-behaviour"
    await conn.execute(
        "INSERT INTO incident_categories VALUES ($1, $2, $3)", school.id, incident_id, category
    )
    for s in alert:
        await conn.execute(
            "INSERT INTO incident_alert_staff VALUES ($1, $2, $3)",
            school.id,
            incident_id,
            school.staff[s],
        )
        if restricted:
            await conn.execute(
                """INSERT INTO incident_access_grants (school_id, incident_id, staff_id, reason)
                   VALUES ($1, $2, $3, 'named')""",
                school.id,
                incident_id,
                school.staff[s],
            )
    return incident_id


async def add_action(
    conn: asyncpg.Connection,
    school: School,
    incident_id: uuid.UUID,
    author: str,
    description: str = "follow-up",
) -> uuid.UUID:
    return await conn.fetchval(  # type: ignore[no-any-return]
        """INSERT INTO actions (school_id, incident_id, author_id, description)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        school.id,
        incident_id,
        school.staff[author],
        description,
    )
