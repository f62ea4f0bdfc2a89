"""Roster import from the school's MIS: staff, classes and pupils, upserted by external id.

Set-based and idempotent: each table is one INSERT ... ON CONFLICT DO UPDATE that touches a row
only when something changed (so a second run changes nothing, not even updated_at); anyone
absent from the import is marked inactive, never deleted (incidents still point at them);
class teachers and pupil classes are replaced by exactly what the import says.

Two people for power: once the school has an active head or DSL, a privileged role the import
gives someone who does not hold it yet is not written to staff.roles but asked for in
pending_roles, where the head or a DSL confirms or declines it (records.staff_accounts); until
then the person has their other roles. A school's first import, with no head or DSL yet,
applies as it is. Taking a role away applies at once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from services.ingest.records import roster_queries as q
from shared import audit, fields
from shared.auth.administrators import ADMIN_ACTION_PREFIX
from shared.auth.sessions import SessionStore
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES, ROLES
from shared.problems import InvalidInput

MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class StaffRow:
    id: str
    email: str
    first_name: str
    last_name: str
    initials: str
    roles: list[str]


@dataclass(frozen=True, slots=True)
class ClassRow:
    id: str
    name: str
    teachers: list[str]


@dataclass(frozen=True, slots=True)
class PupilRow:
    id: str
    first_name: str
    last_name: str
    date_of_birth: dt.date | None
    classes: list[str]


@dataclass(frozen=True, slots=True)
class Roster:
    staff: list[StaffRow]
    classes: list[ClassRow]
    pupils: list[PupilRow]
    # Ids whose rows could not be read (a CSV's bad rows): left as they are, not made inactive.
    keep: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who ran the import, for the pending roles it asks for: "platform" (the admin token),
    "session" (an admin, `staff_id`) or "api_key" (`api_key_id`)."""

    by: str = "platform"
    staff_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    ip: str | None = None


PLATFORM = Requester()


def parse_roster(payload: Any) -> Roster:
    p = fields.obj(payload, "")
    fields.only_keys(p, frozenset({"staff", "classes", "pupils"}), "")
    staff = fields.listing(fields.required(p, "staff"), "staff", _staff, MAX_ROWS)
    classes = fields.listing(fields.required(p, "classes"), "classes", _class, MAX_ROWS)
    pupils = fields.listing(fields.required(p, "pupils"), "pupils", _pupil, MAX_ROWS)
    _unique_ids("staff", [s.id for s in staff])
    _unique_ids("staff", [s.email.lower() for s in staff], "email")
    _unique_ids("classes", [c.id for c in classes])
    _unique_ids("pupils", [p.id for p in pupils])
    _known("classes", "teachers", [c.teachers for c in classes], {s.id for s in staff})
    _known("pupils", "classes", [p.classes for p in pupils], {c.id for c in classes})
    return Roster(staff=staff, classes=classes, pupils=pupils)


def _staff(value: Any, path: str) -> StaffRow:
    s = fields.obj(value, path)
    fields.only_keys(
        s, frozenset({"id", "email", "first_name", "last_name", "initials", "roles"}), path
    )
    email = fields.text(fields.required(s, "email", path), f"{path}.email", max_len=254)
    if "@" not in email or any(c.isspace() for c in email):
        raise InvalidInput("Not an email address.", field=f"{path}.email")
    roles = fields.listing(fields.required(s, "roles", path), f"{path}.roles", _role, 8)
    return StaffRow(
        id=fields.identifier(fields.required(s, "id", path), f"{path}.id"),
        email=email,
        first_name=_name(s, "first_name", path),
        last_name=_name(s, "last_name", path),
        initials=fields.text(fields.required(s, "initials", path), f"{path}.initials", 5),
        roles=sorted(set(roles)),
    )


def _role(value: Any, path: str) -> str:
    role = fields.text(value, path, max_len=32)
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}; one of {', '.join(sorted(ROLES))}.", field=path)
    return role


def _class(value: Any, path: str) -> ClassRow:
    c = fields.obj(value, path)
    fields.only_keys(c, frozenset({"id", "name", "teachers"}), path)
    teachers = fields.listing(c.get("teachers", []), f"{path}.teachers", fields.identifier, 50)
    return ClassRow(
        id=fields.identifier(fields.required(c, "id", path), f"{path}.id"),
        name=fields.text(fields.required(c, "name", path), f"{path}.name", 100),
        teachers=sorted(set(teachers)),
    )


def _pupil(value: Any, path: str) -> PupilRow:
    p = fields.obj(value, path)
    fields.only_keys(
        p, frozenset({"id", "first_name", "last_name", "date_of_birth", "classes"}), path
    )
    born = p.get("date_of_birth")
    classes = fields.listing(p.get("classes", []), f"{path}.classes", fields.identifier, 50)
    return PupilRow(
        id=fields.identifier(fields.required(p, "id", path), f"{path}.id"),
        first_name=_name(p, "first_name", path),
        last_name=_name(p, "last_name", path),
        date_of_birth=None if born is None else fields.date(born, f"{path}.date_of_birth"),
        classes=sorted(set(classes)),
    )


def _name(row: Any, key: str, path: str) -> str:
    return fields.text(fields.required(row, key, path), f"{path}.{key}", max_len=100)


def _unique_ids(table: str, values: list[str], key: str = "id") -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise InvalidInput(f"{key} {v!r} appears twice.", field=f"{table}[{i}].{key}")
        seen.add(v)


def _known(table: str, key: str, lists: list[list[str]], known: set[str]) -> None:
    for i, ids in enumerate(lists):
        for j, ref in enumerate(ids):
            if ref not in known:
                raise InvalidInput(
                    f"{ref!r} is not in this roster.", field=f"{table}[{i}].{key}[{j}]"
                )


async def import_roster(
    conn: Connection, school_id: uuid.UUID, roster: Roster, requester: Requester = PLATFORM
) -> dict[str, int]:
    """Upsert the roster for one school. The caller owns the transaction."""
    # Two imports for one school at once would interleave their deactivations.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('roster:' || $1::text))", str(school_id)
    )
    await conn.execute(q.ADOPT_OUTSIDERS, school_id, _json([asdict(s) for s in roster.staff]))
    staff, asked = await held_back(conn, school_id, roster.staff)
    await q.upsert(
        conn, q.UPSERT_STAFF, q.DEACTIVATE_STAFF, school_id, staff, "staff", _kept(roster, "staff")
    )
    classes = [{"id": c.id, "name": c.name} for c in roster.classes]
    await q.upsert(
        conn,
        q.UPSERT_CLASSES,
        q.DEACTIVATE_CLASSES,
        school_id,
        classes,
        "classes",
        _kept(roster, "classes"),
    )
    pupils = [_pupil_json(p) for p in roster.pupils]
    await q.upsert(
        conn,
        q.UPSERT_PUPILS,
        q.DEACTIVATE_PUPILS,
        school_id,
        pupils,
        "pupils",
        _kept(roster, "pupils"),
    )
    await q.replace_links(
        conn,
        q.REPLACE_CLASS_TEACHERS,
        school_id,
        [{"a": c.id, "b": t} for c in roster.classes for t in c.teachers],
    )
    await q.replace_links(
        conn,
        q.REPLACE_PUPIL_CLASSES,
        school_id,
        [{"a": p.id, "b": c} for p in roster.pupils for c in p.classes],
    )
    await _ask_for_roles(conn, school_id, asked, requester)
    return {
        "staff": len(roster.staff),
        "pupils": len(roster.pupils),
        "classes": len(roster.classes),
    }


async def held_back(
    conn: Connection, school_id: uuid.UUID, rows: list[StaffRow]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The staff rows as they will be written, and the privileged roles held back for a
    second person ([{"a": external id, "b": role}]): none while the school has no head or
    DSL, else each privileged role a person is given but does not hold yet."""
    written = [asdict(s) for s in rows]
    if not await conn.fetchval(q.GUARDED, school_id):
        return written, []
    held = {r["external_id"]: set(r["roles"]) for r in await conn.fetch(q.HELD_ROLES, school_id)}
    asked: list[dict[str, str]] = []
    for row in written:
        new = sorted((set(row["roles"]) - held.get(row["id"], set())) & PRIVILEGED_ROLES)
        row["roles"] = [r for r in row["roles"] if r not in new]
        asked += [{"a": row["id"], "b": role} for role in new]
    return written, asked


async def _ask_for_roles(
    conn: Connection, school_id: uuid.UUID, asked: list[dict[str, str]], who: Requester
) -> None:
    """Open a request for each role held back (one per person and role), withdraw the open
    requests the roster no longer makes, and audit both."""
    payload = _json(asked)
    withdrawn = await conn.fetch(q.WITHDRAW_ROLES, school_id, payload)
    requested = await conn.fetch(q.REQUEST_ROLES, school_id, payload, who.by, who.staff_id)
    for what, rows in (("roles.withdrawn", withdrawn), ("roles.requested", requested)):
        for r in rows:
            await audit.append(
                conn,
                school_id=school_id,
                action=ADMIN_ACTION_PREFIX + what,
                actor_staff_id=who.staff_id,
                actor_api_key_id=who.api_key_id,
                subject_type="staff",
                subject_id=r["staff_id"],
                ip=who.ip,
                detail={"by": who.by, "before": None, "after": r["role"], "source": "roster"},
            )


def _kept(roster: Roster, table: str) -> list[str]:
    return roster.keep.get(table, [])


def _json(value: Any) -> str:
    return json.dumps(value)


async def made_inactive(conn: Connection, school_id: uuid.UUID) -> list[uuid.UUID]:
    """The staff this transaction's import made inactive (call it after import_roster, in the
    same transaction): the leavers' deactivation stamps updated_at with now(), which is the
    transaction's start; end their sessions once it commits (`sign_out`)."""
    rows = await conn.fetch(
        "SELECT id FROM staff WHERE school_id = $1 AND NOT active AND updated_at = now()",
        school_id,
    )
    return [r["id"] for r in rows]


async def sign_out(sessions: SessionStore, staff_ids: list[uuid.UUID]) -> None:
    """Every session of each leaver, however many the index lost."""
    for staff_id in staff_ids:
        await sessions.end_all(staff_id)


def _pupil_json(p: PupilRow) -> dict[str, Any]:
    born = None if p.date_of_birth is None else p.date_of_birth.isoformat()
    return {"id": p.id, "first_name": p.first_name, "last_name": p.last_name, "date_of_birth": born}
