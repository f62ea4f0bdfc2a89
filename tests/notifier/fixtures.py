"""Seed data for the notifier tests, by SQL: a school with the sample roster, incidents with
their children, outbox events and alert rows. Independent of ingest and worker code, so these
tests exercise the notifier alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg

from services.ingest.records.schools import create_school
from shared.auth.api_keys import create_api_key
from tests.support import roster


@dataclass
class School:
    id: uuid.UUID
    name: str
    api_key: str
    staff: dict[str, uuid.UUID] = field(default_factory=dict)  # external id -> id
    emails: dict[str, str] = field(default_factory=dict)
    pupils: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass
class Incident:
    id: uuid.UUID
    reference: int
    school: School


async def seed_school(conn: asyncpg.Connection, name: str = "Oakfield Primary") -> School:
    school_id = await create_school(conn, name)
    school = School(school_id, name, await create_api_key(conn, school_id, "tests"))
    for s in roster.STAFF:
        email = s["email"].replace("@", f"+{school_id.hex[:6]}@")
        school.staff[s["id"]] = await conn.fetchval(
            """INSERT INTO staff (school_id, external_id, email, first_name, last_name, initials,
                                  roles) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            school_id,
            s["id"],
            email,
            s["first_name"],
            s["last_name"],
            s["initials"],
            s["roles"],
        )
        school.emails[s["id"]] = email
    for p in roster.PUPILS:
        school.pupils[p["id"]] = await conn.fetchval(
            """INSERT INTO pupils (school_id, external_id, first_name, last_name, date_of_birth)
               VALUES ($1, $2, $3, $4, $5::text::date) RETURNING id""",
            school_id,
            p["id"],
            p["first_name"],
            p["last_name"],
            p["date_of_birth"],
        )
    return school


async def add_incident(
    conn: asyncpg.Connection,
    school: School,
    *,
    author: str = "S06",
    pupil: str = "P0001",
    categories: tuple[str, ...] = ("cause-for-concern/injury-bruise",),
    restricted: bool = False,
    description: str = "A routine write-up.",
    agencies: tuple[str, ...] = (),
    body_notes: tuple[str, ...] = (),
    linked: tuple[str, ...] = (),
) -> Incident:
    row = await conn.fetchrow(
        """INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, description,
                                  restricted) VALUES ($1, $2, $3, now(), $4, $5)
           RETURNING id, reference""",
        school.id,
        school.pupils[pupil],
        school.staff[author],
        description,
        restricted,
    )
    incident = Incident(row["id"], row["reference"], school)
    await conn.executemany(
        "INSERT INTO incident_categories VALUES ($1, $2, $3)",
        [(school.id, incident.id, slug) for slug in categories],
    )
    await conn.executemany(
        "INSERT INTO incident_agencies VALUES ($1, $2, $3, $4)",
        [(school.id, incident.id, i, a) for i, a in enumerate(agencies)],
    )
    await conn.executemany(
        "INSERT INTO body_map_marks VALUES ($1, $2, $3, 'front', 'left-arm', $4)",
        [(school.id, incident.id, i, note) for i, note in enumerate(body_notes)],
    )
    await conn.executemany(
        "INSERT INTO incident_linked_pupils VALUES ($1, $2, $3)",
        [(school.id, incident.id, school.pupils[p]) for p in linked],
    )
    return incident


async def add_file(
    conn: asyncpg.Connection, incident: Incident, filename: str, data: bytes
) -> None:
    s = incident.school
    await conn.execute(
        """INSERT INTO incident_files (school_id, incident_id, uploaded_by, filename,
                                       content_type, size_bytes, sha256, data)
           VALUES ($1, $2, $3, $4, 'text/plain', $5, sha256($6), $6)""",
        s.id,
        incident.id,
        s.staff["S04"],
        filename,
        len(data),
        data,
    )


async def add_action(
    conn: asyncpg.Connection, incident: Incident, author: str, description: str
) -> uuid.UUID:
    s = incident.school
    action_id: uuid.UUID = await conn.fetchval(
        """INSERT INTO actions (school_id, incident_id, author_id, description)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        s.id,
        incident.id,
        s.staff[author],
        description,
    )
    return action_id


async def add_event(
    conn: asyncpg.Connection,
    incident: Incident,
    kind: str = "incident",
    action_id: uuid.UUID | None = None,
    priority: int = 0,
    level: int = 0,
) -> int:
    event_id: int = await conn.fetchval(
        """INSERT INTO alert_events (school_id, kind, incident_id, action_id, priority, level,
                                     resolved_at) VALUES ($1, $2, $3, $4, $5, $6, now())
           RETURNING id""",
        incident.school.id,
        kind,
        incident.id,
        action_id,
        priority,
        level,
    )
    return event_id


async def add_alerts(
    conn: asyncpg.Connection,
    incident: Incident,
    event_id: int,
    recipients: list[str],
    priority: int = 0,
) -> dict[str, uuid.UUID]:
    """Queued alerts for these staff (external ids); returns external id -> alert id."""
    s = incident.school
    rows = await conn.fetch(
        """INSERT INTO alerts (school_id, event_id, incident_id, recipient_id, priority)
           SELECT $1, $2, $3, r, $5 FROM unnest($4::uuid[]) AS r RETURNING id, recipient_id""",
        s.id,
        event_id,
        incident.id,
        [s.staff[r] for r in recipients],
        priority,
    )
    by_staff = {v: k for k, v in s.staff.items()}
    return {by_staff[r["recipient_id"]]: r["id"] for r in rows}


async def bulk_alerts(
    conn: asyncpg.Connection,
    school: School,
    count: int,
    priority: int = 0,
    restricted: bool = False,
) -> list[uuid.UUID]:
    """`count` queued alerts, one per event (unique per event and recipient), oldest first."""
    incident = await add_incident(conn, school, restricted=restricted)
    staff = list(school.staff.values())
    rows = await conn.fetch(
        """WITH events AS (
               INSERT INTO alert_events (school_id, kind, incident_id, priority, resolved_at)
               SELECT $1, 'incident', $2, $3, now() FROM generate_series(1, $4)
               RETURNING id)
           INSERT INTO alerts (school_id, event_id, incident_id, recipient_id, priority,
                               queued_at)
           SELECT $1, id, $2, ($5::uuid[])[1 + (row_number() OVER (ORDER BY id))::int % $6],
                  $3, now() + make_interval(secs => (row_number() OVER (ORDER BY id)) / 1e6)
           FROM events
           RETURNING id, queued_at""",
        school.id,
        incident.id,
        priority,
        count,
        staff,
        len(staff),
    )
    return [r["id"] for r in sorted(rows, key=lambda r: r["queued_at"])]


async def alert_states(
    conn: asyncpg.Connection | asyncpg.Pool, ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await conn.fetch("SELECT * FROM alerts WHERE id = ANY($1::uuid[])", ids)
    return {r["id"]: r for r in rows}
