"""SQL for incidents. Recording is ONE statement (one round trip, atomic on its own): it looks
up the author, pupil, linked pupils, categories and named staff within the school, and only
when all of them check out inserts the incident, its children and its outbox event. It always
returns the lookup verdict, so the caller can name the field that failed.

Naming staff on a restricted incident gives them need-to-know access, so only an author who
may grant it (DSL, deputy DSL, SLT, head, pastoral) may name anyone there. An Idempotency-Key
is its caller's: the API key, or the member of staff when there is none. References count per
school (school_counters), so no school learns how many incidents others record."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from services.ingest.records.inputs import IncidentInput
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES, Role

STATEMENT_TIMEOUT = 5.0  # seconds; a hung database must not hang a request

_RECORD = """
WITH author AS (
    SELECT id, active, roles && $16::text[] AS privileged FROM staff
    WHERE school_id = $1 AND external_id = $2),
pupil AS (
    SELECT id, active FROM pupils WHERE school_id = $1 AND external_id = $3),
linked AS (
    SELECT x.ext, p.id FROM unnest($4::text[]) AS x(ext)
    LEFT JOIN pupils p ON p.school_id = $1 AND p.external_id = x.ext AND p.active),
cats AS (
    SELECT x.slug, c.restricted FROM unnest($5::text[]) AS x(slug)
    LEFT JOIN categories c ON c.school_id = $1 AND c.slug = x.slug AND c.retired_at IS NULL),
alerted AS (
    SELECT x.ext, s.id FROM unnest($6::text[]) AS x(ext)
    LEFT JOIN staff s ON s.school_id = $1 AND s.external_id = x.ext AND s.active),
verdict AS (
    SELECT (SELECT id FROM author WHERE active) AS author_id,
           EXISTS (SELECT FROM author) AS author_known,
           coalesce((SELECT privileged FROM author), false) AS privileged,
           (SELECT id FROM pupil) AS pupil_id,
           coalesce((SELECT active FROM pupil), false) AS pupil_active,
           ARRAY(SELECT ext FROM linked WHERE id IS NULL) AS unknown_linked,
           ARRAY(SELECT slug FROM cats WHERE restricted IS NULL) AS unknown_categories,
           ARRAY(SELECT ext FROM alerted WHERE id IS NULL) AS unknown_staff,
           coalesce((SELECT bool_or(restricted) FROM cats), false) AS restricted),
judged AS (
    SELECT verdict.*,
           restricted AND NOT $17::boolean AS restricted_refused,
           restricted AND cardinality($6::text[]) > 0 AND NOT privileged AS naming_refused
    FROM verdict),
-- The school's next reference (numbered per school), taken only for an incident that will be
-- inserted: the same checks as the insert below, and an Idempotency-Key not used before. A
-- replay takes no number: it passes 0, which its ON CONFLICT discards unstored (without a
-- number, the table's trigger would take one). The counter row stays locked until the
-- transaction commits (ingest runs this statement on its own), so the recordings of ONE school
-- are serialised on it (schools never wait for each other): the price of per-school numbers
-- without gaps. Two first sends of one new key racing may leave a gap. Should the checks here
-- and below drift apart, the insert gets NULL and the trigger numbers it.
key_used AS (
    SELECT EXISTS (
        SELECT FROM incidents i WHERE i.school_id = $1 AND i.idempotency_key = $10
        AND coalesce(i.api_key_id, i.author_id) = coalesce($9, judged.author_id)) AS used
    FROM judged),
next_ref AS (
    INSERT INTO school_counters AS sc (school_id, next_reference)
    SELECT $1, 2 FROM judged, key_used
    WHERE author_id IS NOT NULL AND pupil_active AND unknown_linked = '{}'
      AND unknown_categories = '{}' AND unknown_staff = '{}' AND (privileged OR NOT restricted)
      AND NOT restricted_refused AND NOT naming_refused AND NOT used
    ON CONFLICT (school_id) DO UPDATE SET next_reference = sc.next_reference + 1
    RETURNING sc.next_reference - 1 AS n),
incident AS (
    INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, description, restricted,
                           api_key_id, idempotency_key, request_hash, reference)
    SELECT $1, pupil_id, author_id, $7, $8, restricted, $9, $10, $11,
           CASE WHEN (SELECT used FROM key_used) THEN 0 ELSE (SELECT n FROM next_ref) END
    FROM judged
    WHERE author_id IS NOT NULL AND pupil_active AND unknown_linked = '{}'
      AND unknown_categories = '{}' AND unknown_staff = '{}' AND (privileged OR NOT restricted)
      AND NOT restricted_refused AND NOT naming_refused
    ON CONFLICT (school_id, (coalesce(api_key_id, author_id)), idempotency_key) DO NOTHING
    RETURNING id, reference, recorded_at, restricted),
c AS (INSERT INTO incident_categories (school_id, incident_id, category_slug)
      SELECT $1, incident.id, cats.slug FROM incident, cats),
l AS (INSERT INTO incident_linked_pupils (school_id, incident_id, pupil_id)
      SELECT $1, incident.id, linked.id FROM incident, linked),
a AS (INSERT INTO incident_agencies (school_id, incident_id, position, agency)
      SELECT $1, incident.id, x.n, x.agency
      FROM incident, unnest($12::text[]) WITH ORDINALITY AS x(agency, n)),
b AS (INSERT INTO body_map_marks (school_id, incident_id, position, view, region, note)
      SELECT $1, incident.id, x.n, x.view, x.region, x.note
      FROM incident, unnest($13::text[], $14::text[], $15::text[])
           WITH ORDINALITY AS x(view, region, note, n)),
s AS (INSERT INTO incident_alert_staff (school_id, incident_id, staff_id)
      SELECT $1, incident.id, alerted.id FROM incident, alerted),
event AS (INSERT INTO alert_events (school_id, kind, incident_id, priority)
          SELECT $1, 'incident', id, CASE WHEN restricted THEN 1 ELSE 0 END FROM incident
          RETURNING id)
SELECT judged.*, incident.id AS incident_id, incident.reference, incident.recorded_at,
       (SELECT id FROM event) AS event_id
FROM judged LEFT JOIN incident ON true
"""

_PRIVILEGED = sorted(PRIVILEGED_ROLES)
# The recording statement's 17 arguments, $1 to $17 (see `recording`).
Recording: TypeAlias = tuple[
    uuid.UUID,  # school
    str,  # author
    str,  # pupil
    list[str],  # linked pupils
    list[str],  # categories
    list[str],  # staff to alert
    dt.datetime,  # occurred
    str,  # description
    uuid.UUID | None,  # API key
    str | None,  # Idempotency-Key
    bytes | None,  # request hash
    list[str],  # agencies
    list[str],  # body map: views
    list[str],  # regions
    list[str],  # notes
    list[Role],  # the roles that are privileged
    bool,  # may restrict
]


def recording(
    school_id: uuid.UUID,
    api_key_id: uuid.UUID | None,
    data: IncidentInput,
    idempotency_key: str | None,
    request_hash: bytes | None,
    may_restrict: bool = True,
) -> Recording:
    """The recording statement's arguments. `may_restrict`: False for an API key without the
    `restricted` scope (then a restricted incident is refused, `restricted_refused`); staff
    are judged by their roles alone."""
    marks = data.body_map
    return (
        school_id,
        data.author,
        data.pupil,
        data.linked_pupils,
        data.categories,
        data.alert_staff,
        data.occurred_at,
        data.description,
        api_key_id,
        idempotency_key,
        request_hash,
        data.agencies,
        [m.view for m in marks],
        [m.region for m in marks],
        [m.note for m in marks],
        _PRIVILEGED,
        may_restrict,
    )


async def record_incident(conn: Connection, arguments: Recording) -> asyncpg.Record:
    """One recording, in the caller's transaction (a page adds the uploads to it)."""
    row = await conn.fetchrow(_RECORD, *arguments, timeout=STATEMENT_TIMEOUT)
    assert row is not None  # the verdict: always one row
    return row


async def record_incidents(conn: Connection, batch: Sequence[Recording]) -> list[asyncpg.Record]:
    """Several recordings sent at once, committed together (asyncpg pipelines them and ends
    with one Sync: one implicit transaction, all or none); one verdict row each, in order.
    One school's recordings queue on its counter row anyway, so together they hold it for
    one commit instead of one each."""
    rows = await conn.fetchmany(_RECORD, batch, timeout=STATEMENT_TIMEOUT)
    return list(rows)


async def authored_reference(
    conn: Connection, school_id: uuid.UUID, incident_id: uuid.UUID, author_id: uuid.UUID
) -> int | None:
    """The incident's reference, for its author only (to confirm what they recorded)."""
    reference: int | None = await conn.fetchval(
        "SELECT reference FROM incidents WHERE school_id = $1 AND id = $2 AND author_id = $3",
        school_id,
        incident_id,
        author_id,
        timeout=STATEMENT_TIMEOUT,
    )
    return reference


_BY_KEY = """SELECT id, request_hash FROM incidents
WHERE school_id = $1 AND idempotency_key = $2 AND coalesce(api_key_id, author_id) = $3"""


async def find_by_key(
    conn: Connection, school_id: uuid.UUID, idempotency_key: str, caller_id: uuid.UUID
) -> asyncpg.Record | None:
    """The caller's incident under that key: `caller_id` is the API key's id, or the staff
    id of a session (which records as itself)."""
    return await conn.fetchrow(
        _BY_KEY, school_id, idempotency_key, caller_id, timeout=STATEMENT_TIMEOUT
    )


_INCIDENT = """
SELECT i.id, i.reference, p.external_id AS pupil, s.external_id AS author, i.occurred_at,
       i.recorded_at, i.description, i.restricted,
       ARRAY(SELECT category_slug FROM incident_categories c WHERE c.incident_id = i.id
             ORDER BY category_slug) AS categories,
       ARRAY(SELECT lp.external_id FROM incident_linked_pupils l
             JOIN pupils lp ON lp.id = l.pupil_id WHERE l.incident_id = i.id
             ORDER BY lp.external_id) AS linked_pupils,
       ARRAY(SELECT agency FROM incident_agencies a WHERE a.incident_id = i.id
             ORDER BY position) AS agencies,
       coalesce((SELECT json_agg(json_build_object('view', view, 'region', region,
                                                   'note', note) ORDER BY position)
                 FROM body_map_marks b WHERE b.incident_id = i.id), '[]') AS body_map,
       ARRAY(SELECT st.external_id FROM incident_alert_staff a JOIN staff st ON st.id = a.staff_id
             WHERE a.incident_id = i.id ORDER BY st.external_id) AS alert_staff
FROM incidents i JOIN pupils p ON p.id = i.pupil_id JOIN staff s ON s.id = i.author_id
WHERE i.school_id = $1 AND i.id = $2
"""

_ACTIONS = """
SELECT a.id, s.external_id AS author, a.description, a.recorded_at,
       ARRAY(SELECT st.external_id FROM action_alert_staff x JOIN staff st ON st.id = x.staff_id
             WHERE x.action_id = a.id ORDER BY st.external_id) AS alert_staff
FROM actions a JOIN staff s ON s.id = a.author_id
WHERE a.school_id = $1 AND a.incident_id = $2 AND ($3::uuid IS NULL OR a.api_key_id = $3)
ORDER BY a.recorded_at, a.id
"""

_FILES = """
SELECT f.id, f.filename, f.content_type, f.size_bytes, f.sha256, s.external_id AS uploaded_by,
       f.uploaded_at
FROM incident_files f JOIN staff s ON s.id = f.uploaded_by
WHERE f.school_id = $1 AND f.incident_id = $2 AND ($3::uuid IS NULL OR f.api_key_id = $3)
ORDER BY f.uploaded_at, f.id
"""


async def fetch_incident(
    conn: Connection, school_id: uuid.UUID, incident_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(_INCIDENT, school_id, incident_id, timeout=STATEMENT_TIMEOUT)


async def fetch_actions(
    conn: Connection,
    school_id: uuid.UUID,
    incident_id: uuid.UUID,
    api_key_id: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """`api_key_id`: only the actions that key posted (an API key reads back its own)."""
    return await conn.fetch(_ACTIONS, school_id, incident_id, api_key_id, timeout=STATEMENT_TIMEOUT)


async def fetch_files(
    conn: Connection,
    school_id: uuid.UUID,
    incident_id: uuid.UUID,
    api_key_id: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """`api_key_id`: only the files that key uploaded."""
    return await conn.fetch(_FILES, school_id, incident_id, api_key_id, timeout=STATEMENT_TIMEOUT)
