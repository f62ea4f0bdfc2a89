"""The one test world: a school seeded through ingest's own use cases, its records written by
ingest's recording statements and its alerts made by the worker's real resolution.

    school = await seed_school(conn)                     # create_school + the sample roster
    incident = await record_incident(conn, school, "S06", "P0001", ["behaviour"])
    alerts = await resolve_alerts(conn, incident.event)  # {"S01": alert id, ...}

A few things no ingest request can produce (thousands of alerts on one event, an alert already
failed, a stored file row) have small helpers below, each named for what it fakes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.ingest.records import actions, incidents
from services.ingest.records.inputs import parse_action, parse_incident
from services.ingest.records.roster import import_roster, parse_roster
from services.ingest.records.schools import create_school
from services.worker import recipients
from shared.auth import accounts
from shared.auth.api_keys import create_api_key
from shared.auth.passwords import hash_password
from tests.support.roster import roster

NAME = "Oakfield Primary"
ROUTINE = "cause-for-concern/injury-bruise"
RESTRICTED = "safeguarding/cp-plan"


@dataclass
class School:
    """A school as the tests know it: ids by the MIS's external ids, and its API key."""

    id: uuid.UUID
    name: str
    key: str  # the school's API key (the MIS's), shown once at creation
    key_id: uuid.UUID
    imported: dict[str, Any]  # the roster payload last imported
    staff: dict[str, uuid.UUID] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    pupils: dict[str, uuid.UUID] = field(default_factory=dict)
    classes: dict[str, uuid.UUID] = field(default_factory=dict)
    password: str | None = None  # every member's, once set_passwords gave them one
    incidents: dict[str, uuid.UUID] = field(default_factory=dict)  # a test's names for them
    alerts: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)  # (incident, staff)
    crowd: list[uuid.UUID] = field(default_factory=list)  # extra staff for alert volume

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class Recorded:
    """What recording returned: the incident or action, and its outbox event."""

    id: uuid.UUID
    event: int
    reference: int | None = None


async def seed_school(
    db: asyncpg.Connection | asyncpg.Pool,
    name: str = NAME,
    *,
    with_roster: bool = True,
    email_domain: str = "school.example",
) -> School:
    """Created as `POST /v1/schools`, `POST .../api-keys` and `PUT .../roster` create it."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await seed_school(conn, name, with_roster=with_roster, email_domain=email_domain)
    payload = roster() if with_roster else {"staff": [], "classes": [], "pupils": []}
    for s in payload["staff"]:
        s["email"] = s["email"].replace("@school.example", f"@{email_domain}")
    async with db.transaction():
        school_id = await create_school(db, name)
        key = await create_api_key(db, school_id, "tests")
        key_id = await db.fetchval("SELECT id FROM api_keys WHERE school_id = $1", school_id)
        school = School(school_id, name, key, key_id, payload)
        await import_roster(db, school_id, parse_roster(payload))
    await _load_ids(db, school)
    return school


async def _load_ids(conn: asyncpg.Connection, school: School) -> None:
    for table, ids in (("staff", school.staff), ("pupils", school.pupils)):
        ids.update(await _external_ids(conn, table, school.id))
    school.classes.update(await _external_ids(conn, "classes", school.id))
    school.emails.update({s["id"]: s["email"] for s in school.imported["staff"]})


async def _external_ids(
    conn: asyncpg.Connection, table: str, school_id: uuid.UUID
) -> dict[str, uuid.UUID]:
    rows = await conn.fetch(
        f"SELECT external_id, id FROM {table} WHERE school_id = $1",  # noqa: S608
        school_id,
    )
    return {r["external_id"]: r["id"] for r in rows}


async def set_passwords(conn: asyncpg.Connection, school: School, password: str) -> None:
    """Every member of staff signs in with `password` (as if each had used a reset link)."""
    stored = hash_password(password)
    for staff_id in school.staff.values():
        await accounts.set_password_hash(conn, school.id, staff_id, stored)
    school.password = password


async def record_incident(
    conn: asyncpg.Connection,
    school: School,
    author: str = "S06",
    pupil: str = "P0001",
    categories: Iterable[str] = (ROUTINE,),
    *,
    linked: Iterable[str] = (),
    named: Iterable[str] = (),
    description: str = "A routine write-up.",
    agencies: Iterable[str] = (),
    body_map: Iterable[dict[str, str]] = (),
    occurred_at: dt.datetime | None = None,
) -> Recorded:
    """Parsed and recorded exactly as `POST /v1/incidents` with the school's key does (no
    Idempotency-Key, no doorbell: the event waits in the outbox, as after a crash between
    commit and enqueue)."""
    now = dt.datetime.now(dt.UTC)
    body = {
        "author": author,
        "pupil": pupil,
        "occurred_at": (occurred_at or now).isoformat(),
        "description": description,
        "categories": list(categories),
        "linked_pupils": list(linked),
        "alert_staff": list(named),
        "agencies": list(agencies),
        "body_map": list(body_map),
    }
    arguments = incidents.recording(school.id, school.key_id, parse_incident(body, now), None, None)
    row = await incidents.record_incident(conn, arguments)
    assert row["incident_id"] is not None, f"ingest refused the incident: {dict(row)}"
    return Recorded(row["incident_id"], row["event_id"], row["reference"])


async def record_action(
    conn: asyncpg.Connection,
    school: School,
    incident: uuid.UUID,
    author: str,
    description: str = "Spoke to parent.",
    named: Iterable[str] = (),
) -> Recorded:
    """Parsed and recorded exactly as `POST /v1/incidents/{id}/actions` with the key does."""
    data = parse_action({"author": author, "description": description, "alert_staff": [*named]})
    row = await actions.record_action(conn, school.id, school.key_id, incident, data, None, None)
    assert row["action_id"] is not None, f"ingest refused the action: {dict(row)}"
    return Recorded(row["action_id"], row["event_id"])


async def resolve_alerts(conn: asyncpg.Connection, event: int) -> dict[str, uuid.UUID]:
    """The worker's own resolution of one event; returns its alerts by recipient."""
    result = await recipients.resolve(conn, event)
    assert result.found, f"no event {event}"
    rows = await conn.fetch(
        """SELECT s.external_id, a.id FROM alerts a JOIN staff s ON s.id = a.recipient_id
           WHERE a.event_id = $1""",
        event,
    )
    return {r["external_id"]: r["id"] for r in rows}


async def alerted(conn: asyncpg.Connection | asyncpg.Pool, event: int) -> set[str]:
    """Who the event's alerts went to (external ids)."""
    rows = await conn.fetch(
        """SELECT s.external_id FROM alerts a JOIN staff s ON s.id = a.recipient_id
           WHERE a.event_id = $1""",
        event,
    )
    return {r["external_id"] for r in rows}


async def granted(conn: asyncpg.Connection | asyncpg.Pool, incident: uuid.UUID) -> set[str]:
    """Who holds a need-to-know grant to the incident (external ids)."""
    rows = await conn.fetch(
        """SELECT s.external_id FROM incident_access_grants g JOIN staff s ON s.id = g.staff_id
           WHERE g.incident_id = $1""",
        incident,
    )
    return {r["external_id"] for r in rows}


async def alert_rows(
    conn: asyncpg.Connection | asyncpg.Pool, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await conn.fetch("SELECT * FROM alerts WHERE id = ANY($1::uuid[])", list(ids))
    return {r["id"]: r for r in rows}


# -- What ingest cannot produce ----------------------------------------------------------------


async def pile_of_queued_alerts(
    conn: asyncpg.Connection, school: School, count: int, restricted: bool = False
) -> list[uuid.UUID]:
    """`count` queued alerts on one real incident, oldest first (a microsecond apart).

    No rule alerts thousands of people about one event; the claim tests need the volume, so
    the recipients are a crowd of extra staff imported with the roster (teachers of no class,
    whom no rule alerts) and these alerts are written here, marking the event resolved."""
    crowd = await _crowd(conn, school, count)
    incident = await record_incident(conn, school, "S04", categories=[_category(restricted)])
    rows = await conn.fetch(
        _PILE,
        school.id,
        incident.event,
        incident.id,
        crowd,
    )
    return [r["id"] for r in sorted(rows, key=lambda r: r["queued_at"])]


_PILE = """
WITH resolved AS (
    UPDATE alert_events SET resolved_at = now() WHERE id = $2 RETURNING id, priority)
INSERT INTO alerts (school_id, event_id, incident_id, recipient_id, priority, queued_at)
SELECT $1, r.id, $3, x.staff, r.priority, now() + make_interval(secs => x.n / 1e6)
FROM resolved r, unnest($4::uuid[]) WITH ORDINALITY AS x(staff, n)
RETURNING id, queued_at
"""


def _category(restricted: bool) -> str:
    return RESTRICTED if restricted else ROUTINE


async def _crowd(conn: asyncpg.Connection, school: School, count: int) -> list[uuid.UUID]:
    """At least `count` extra staff, added by a roster import; returns the first `count`."""
    if len(school.crowd) < count:
        extra = [
            {
                "id": f"X{n:05d}",
                "email": f"extra.{n}@crowd.example",
                "first_name": "Extra",
                "last_name": f"Member{n}",
                "initials": "XM",
                "roles": ["teacher"],
            }
            for n in range(count)
        ]
        payload = {**school.imported, "staff": _sample_staff(school) + extra}
        async with conn.transaction():
            await import_roster(conn, school.id, parse_roster(payload))
        school.imported = payload
        ids = await _external_ids(conn, "staff", school.id)
        school.crowd = [ids[s["id"]] for s in extra]
    return school.crowd[:count]


def _sample_staff(school: School) -> list[dict[str, Any]]:
    return [s for s in school.imported["staff"] if not s["id"].startswith("X")]


async def attach_file(
    conn: asyncpg.Connection, school: School, incident: uuid.UUID, filename: str, data: bytes
) -> None:
    """A stored attachment row, as the upload endpoint leaves it (uploaded by the DSL)."""
    await conn.execute(
        """INSERT INTO incident_files (school_id, incident_id, uploaded_by, filename,
                                       content_type, size_bytes, sha256, data)
           VALUES ($1, $2, $3, $4, 'text/plain', $5, sha256($6), $6)""",
        school.id,
        incident,
        school.staff["S04"],
        filename,
        len(data),
        data,
    )


async def settle_alert(
    conn: asyncpg.Connection | asyncpg.Pool, alert: uuid.UUID, state: str, error: str | None = None
) -> None:
    """Put an alert in a final delivery state ('sent' or 'failed') without the notifier."""
    assert state in ("sent", "failed")
    await conn.execute(
        """UPDATE alerts SET state = $2, error = $3,
                  sent_at = CASE WHEN $2 = 'sent' THEN now() END,
                  failed_at = CASE WHEN $2 = 'failed' THEN now() END
           WHERE id = $1""",
        alert,
        state,
        error,
    )
