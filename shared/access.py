"""Need-to-know: the one place that decides every read. Deny by default.

Pure functions over two small facts objects, so the whole policy is tested as a matrix:
- Nobody sees another school's data (API keys included).
- A teacher or TA sees the pupils in the classes they teach and those pupils' non-restricted
  incidents; never a restricted incident unless alerted to or granted that incident.
- SLT, head, pastoral, DSL and deputy DSL see everything in their school once elevated (TOTP);
  before that they are treated like teachers, except that an alert does not open a restricted
  incident to them: they are alerted to all of those by rule, so that would make elevation moot.
- `admin` manages accounts and settings and sees no incident by that role.
- Anyone with an account (not admin only) may add an incident: no elevation needed.
- An API key is a school's integration, never more than its staff: it sees only incidents it
  posted itself, restricted ones only with the `restricted` scope; no pupil's chronology; staff
  members' alerts only with `alerts:staff` (shared.auth.scopes). Which requests a key may make
  at all is its scopes' say, checked by each view (403 naming the scope).
Callers answer 404 for anything denied, the same as for an id that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

import asyncpg

from shared.auth import scopes
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES, Role
from shared.problems import NotFound

# Roles that manage other people's authenticator devices (when elevated).
DEVICE_MANAGERS = frozenset({Role.ADMIN, Role.DSL, Role.SLT, Role.HEAD})


@dataclass(frozen=True, slots=True)
class Viewer:
    school_id: uuid.UUID
    staff_id: uuid.UUID | None = None  # None: an API key
    api_key_id: uuid.UUID | None = None
    roles: frozenset[str] = frozenset()
    elevated: bool = False
    ref: str | None = None  # a member of staff's id as the school's MIS names it
    taught_pupil_ids: frozenset[uuid.UUID] = frozenset()
    # Among the incidents being judged only (with_incident_grants), never all of them:
    granted_incident_ids: frozenset[uuid.UUID] = frozenset()  # incident_access_grants
    alerted_incident_ids: frozenset[uuid.UUID] = frozenset()  # named on it, or sent an alert
    api_key_scopes: frozenset[str] = frozenset()

    @property
    def is_api_key(self) -> bool:
        return self.staff_id is None

    @property
    def sees_whole_school(self) -> bool:
        return self.elevated and bool(self.roles & PRIVILEGED_ROLES)

    @property
    def has_staff_role(self) -> bool:
        """Any role but admin: admin alone is for accounts and settings."""
        return bool(self.roles - {Role.ADMIN})


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    id: uuid.UUID
    school_id: uuid.UUID
    pupil_id: uuid.UUID
    restricted: bool
    linked_pupil_ids: frozenset[uuid.UUID] = frozenset()
    api_key_id: uuid.UUID | None = None  # the key that posted it, if any


def can_view_incident(viewer: Viewer, incident: IncidentFacts) -> bool:
    if viewer.school_id != incident.school_id:
        return False
    if viewer.is_api_key:
        if incident.api_key_id != viewer.api_key_id:
            return False
        return not incident.restricted or scopes.RESTRICTED in viewer.api_key_scopes
    if viewer.sees_whole_school:
        return True
    if incident.id in viewer.alerted_incident_ids or incident.id in viewer.granted_incident_ids:
        # Privileged staff are alerted to every restricted incident by rule: for them an alert
        # is no need-to-know grant, or a stolen password would skip the second factor.
        return not (incident.restricted and viewer.roles & PRIVILEGED_ROLES)
    if not viewer.has_staff_role:
        return False
    pupils = {incident.pupil_id} | incident.linked_pupil_ids
    return not incident.restricted and not pupils.isdisjoint(viewer.taught_pupil_ids)


def visible_incidents(viewer: Viewer, incidents: Iterable[IncidentFacts]) -> list[IncidentFacts]:
    return [i for i in incidents if can_view_incident(viewer, i)]


def can_view_pupil(viewer: Viewer, school_id: uuid.UUID, pupil_id: uuid.UUID) -> bool:
    """A pupil's record and chronology (each entry then filtered by can_view_incident)."""
    if viewer.school_id != school_id:
        return False
    if viewer.is_api_key:
        return False  # a key reads back its own posts, never a pupil's whole record
    if viewer.sees_whole_school:
        return True
    return viewer.has_staff_role and pupil_id in viewer.taught_pupil_ids


def can_add_incident(viewer: Viewer, school_id: uuid.UUID) -> bool:
    """Recording a concern needs no elevation: any member of staff, any pupil of the school."""
    if viewer.school_id != school_id:
        return False
    if viewer.is_api_key:
        return scopes.INCIDENTS_WRITE in viewer.api_key_scopes
    return viewer.has_staff_role


def can_view_staff_alerts(viewer: Viewer, school_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
    """A person's own alert list; a staff app's key (`alerts:staff`) acts for any member of
    its school, showing each their own."""
    if viewer.school_id != school_id:
        return False
    if viewer.is_api_key:
        return scopes.ALERTS_STAFF in viewer.api_key_scopes
    return viewer.staff_id == staff_id


def can_mark_alert_read(viewer: Viewer, school_id: uuid.UUID, recipient_id: uuid.UUID) -> bool:
    return can_view_staff_alerts(viewer, school_id, recipient_id)


def can_manage_devices(viewer: Viewer, school_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
    """Removing an authenticator device: one's own, or anyone's for admin/DSL/SLT; always
    elevated, so a stolen password alone cannot swap someone's second factor."""
    if viewer.school_id != school_id or viewer.is_api_key or not viewer.elevated:
        return False
    return viewer.staff_id == staff_id or bool(viewer.roles & DEVICE_MANAGERS)


def can_change_settings(viewer: Viewer, school_id: uuid.UUID) -> bool:
    return viewer.school_id == school_id and viewer.elevated and Role.ADMIN in viewer.roles


# -- Loading the facts: one query each ---------------------------------------------------------
# An alert or a naming from before an incident was moved into a restricted category was
# about an ordinary incident: it opens nothing once the incident is restricted.

_VIEWER = """
SELECT s.school_id, s.roles, s.external_id,
  ARRAY(SELECT DISTINCT pc.pupil_id FROM class_teachers ct
        JOIN classes c ON c.id = ct.class_id AND c.active
        JOIN pupil_classes pc ON pc.class_id = ct.class_id
        JOIN pupils p ON p.id = pc.pupil_id AND p.active
        WHERE ct.staff_id = s.id) AS taught
FROM staff s WHERE s.id = $1 AND s.active
"""

# Grants and alerts among the incidents in question only: a head has tens of thousands of
# alerts, and loading them all on every page cost more than the page.
_INCIDENT_GRANTS = """
SELECT
  ARRAY(SELECT g.incident_id FROM incident_access_grants g
        WHERE g.staff_id = $1 AND g.incident_id = ANY($2::uuid[])) AS granted,
  ARRAY(SELECT a.incident_id FROM alerts a WHERE a.recipient_id = $1
          AND a.incident_id = ANY($2::uuid[])
          AND NOT EXISTS (SELECT FROM incident_category_moves m
                          WHERE m.incident_id = a.incident_id AND m.moved_at >= a.queued_at)
        UNION SELECT n.incident_id FROM incident_alert_staff n WHERE n.staff_id = $1
          AND n.incident_id = ANY($2::uuid[])
          AND NOT EXISTS (SELECT FROM incident_category_moves m
                          WHERE m.incident_id = n.incident_id))
    AS alerted
"""


async def load_viewer(
    conn: Connection, staff_id: uuid.UUID, elevated: bool = False
) -> Viewer | None:
    """The viewer for an active member of staff (None when inactive or unknown), with no
    incident grants yet: `with_incident_grants` adds those for the incidents about to be
    judged, so a viewer never loaded with them is denied what only a grant would open."""
    row = await conn.fetchrow(_VIEWER, staff_id)
    if row is None:
        return None
    return Viewer(
        school_id=row["school_id"],
        staff_id=staff_id,
        roles=frozenset(row["roles"]),
        elevated=elevated,
        ref=row["external_id"],
        taught_pupil_ids=frozenset(row["taught"]),
    )


async def with_incident_grants(
    conn: Connection, viewer: Viewer, incident_ids: Iterable[uuid.UUID]
) -> Viewer:
    """The viewer with what they were granted, named on or alerted to among `incident_ids`
    (replacing what it carried). Nothing to load for a key or a whole-school viewer."""
    if viewer.staff_id is None or viewer.sees_whole_school:
        return viewer
    ids = list(set(incident_ids))
    if not ids:
        return replace(viewer, granted_incident_ids=frozenset(), alerted_incident_ids=frozenset())
    row = await conn.fetchrow(_INCIDENT_GRANTS, viewer.staff_id, ids)
    assert row is not None  # a SELECT of arrays: always one row
    return replace(
        viewer,
        granted_incident_ids=frozenset(row["granted"]),
        alerted_incident_ids=frozenset(row["alerted"]),
    )


def api_key_viewer(
    school_id: uuid.UUID, api_key_id: uuid.UUID, granted: frozenset[str] = frozenset()
) -> Viewer:
    return Viewer(school_id=school_id, api_key_id=api_key_id, api_key_scopes=granted)


_FACTS_COLUMNS = """i.id, i.school_id, i.pupil_id, i.api_key_id, i.restricted,
  ARRAY(SELECT l.pupil_id FROM incident_linked_pupils l WHERE l.incident_id = i.id) AS linked"""

_INCIDENT_FACTS = f"SELECT {_FACTS_COLUMNS} FROM incidents i WHERE i.id = $1"  # noqa: S608

# A UNION of two index scans: written as `pupil_id = $2 OR id IN (...)` the planner read every
# incident of the school (19 ms at 100,000 of them, for a chronology of 450).
_PUPIL_INCIDENT_FACTS = f"""SELECT {_FACTS_COLUMNS} FROM incidents i
WHERE i.school_id = $1 AND i.id IN (
      SELECT p.id FROM incidents p WHERE p.school_id = $1 AND p.pupil_id = $2
      UNION SELECT l.incident_id FROM incident_linked_pupils l WHERE l.pupil_id = $2)
ORDER BY i.occurred_at, i.recorded_at"""  # noqa: S608 (constant text, no input)


def _facts(row: asyncpg.Record) -> IncidentFacts:
    return IncidentFacts(
        id=row["id"],
        school_id=row["school_id"],
        pupil_id=row["pupil_id"],
        restricted=row["restricted"],
        linked_pupil_ids=frozenset(row["linked"]),
        api_key_id=row["api_key_id"],
    )


async def incident_facts(conn: Connection, incident_id: uuid.UUID) -> IncidentFacts | None:
    row = await conn.fetchrow(_INCIDENT_FACTS, incident_id)
    return None if row is None else _facts(row)


async def visible_incident(
    conn: Connection, viewer: Viewer, incident_id: uuid.UUID
) -> IncidentFacts:
    """The incident if the viewer may see it; otherwise 404, exactly as for a missing id."""
    facts = await incident_facts(conn, incident_id)
    if facts is None:
        raise NotFound("No such incident.")
    viewer = await with_incident_grants(conn, viewer, [incident_id])
    if not can_view_incident(viewer, facts):
        raise NotFound("No such incident.")
    return facts


async def pupil_incident_facts(
    conn: Connection, school_id: uuid.UUID, pupil_id: uuid.UUID
) -> list[IncidentFacts]:
    """Every incident about the pupil or naming them as a linked pupil, oldest first."""
    rows = await conn.fetch(_PUPIL_INCIDENT_FACTS, school_id, pupil_id)
    return [_facts(r) for r in rows]
