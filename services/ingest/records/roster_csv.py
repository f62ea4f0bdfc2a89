"""The roster as the MIS exports it: three CSV files (staff, classes, pupils; the columns in
docs/roster-csv.md), read into the same Roster the JSON import takes, and the preview of what
importing it would change.

A bad row does not stop the upload: it is reported with its file, line and reason and left
out, and whoever it names (when its id can be read) is kept as they are rather than made
inactive, so a typo in the MIS never signs a member of staff out.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from services.ingest.records import roster
from services.ingest.records.roster import ClassRow, PupilRow, Roster, StaffRow
from shared.database import Connection
from shared.problems import InvalidInput

TABLES = ("staff", "classes", "pupils")
COLUMNS: dict[str, tuple[str, ...]] = {
    "staff": ("id", "email", "first_name", "last_name", "initials", "roles"),
    "classes": ("id", "name", "teachers"),
    "pupils": ("id", "first_name", "last_name", "date_of_birth", "classes"),
}
REQUIRED: dict[str, frozenset[str]] = {
    "staff": frozenset(COLUMNS["staff"]),
    "classes": frozenset({"id", "name"}),
    "pupils": frozenset({"id", "first_name", "last_name"}),
}
LISTS = {"roles", "teachers", "classes"}  # cells holding several values: "teacher; dsl"
MAX_FILE_BYTES = 8 * 1024 * 1024
_SPLIT = re.compile(r"[;,\s]+")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


@dataclass(frozen=True, slots=True)
class BadRow:
    file: str
    line: int
    reason: str


@dataclass(slots=True)
class Upload:
    roster: Roster
    bad_rows: list[BadRow] = field(default_factory=list)


def read_upload(files: dict[str, bytes]) -> Upload:
    """The three files (by table name; a missing one is a bad row of its own) as a Roster.
    A reference to an id on a bad row is accepted: that row's record is kept as it is."""
    bad: list[BadRow] = []
    rows = {t: list(_records(t, files.get(t), bad)) for t in TABLES}
    listed = {t: _ids_of(rows[t]) for t in TABLES}
    staff = _unique(_good(rows["staff"], "staff", roster._staff, bad), bad)
    classes = _known(_good(rows["classes"], "classes", roster._class, bad), listed["staff"], bad)
    pupils = _known(_good(rows["pupils"], "pupils", roster._pupil, bad), listed["classes"], bad)
    good = {"staff": staff, "classes": classes, "pupils": pupils}
    keep = {t: sorted(listed[t] - {row.id for _, row in good[t]}) for t in TABLES}
    bad.sort(key=lambda b: (TABLES.index(b.file), b.line))
    return Upload(
        Roster([r for _, r in staff], [r for _, r in classes], [r for _, r in pupils], keep), bad
    )


Record = tuple[int, dict[str, str]]  # (line number, cells by column)


def _records(table: str, data: bytes | None, bad: list[BadRow]) -> Iterator[Record]:
    if not data:
        bad.append(BadRow(table, 0, f"Upload {table}.csv: it is missing or empty."))
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        bad.append(BadRow(table, 0, "The file is not UTF-8: save it as 'CSV UTF-8'."))
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [_column(c) for c in next(reader, [])]
    missing = sorted(REQUIRED[table] - set(header))
    if missing:
        bad.append(
            BadRow(
                table, 1, f"The first line must name the columns; missing: {', '.join(missing)}."
            )
        )
        return
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if any(c.strip() for c in cells):
            yield line, {h: c.strip() for h, c in zip(header, cells, strict=False) if h}
        if line > roster.MAX_ROWS + 1:
            bad.append(BadRow(table, line, f"At most {roster.MAX_ROWS} rows."))
            return


def _column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _as_payload(table: str, cells: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in COLUMNS[table]:
        value = cells.get(column, "")
        if column in LISTS:
            out[column] = [v for v in _SPLIT.split(value) if v]
        elif column == "date_of_birth":
            out[column] = _iso_date(value) if value else None
        elif value or column in REQUIRED[table]:
            out[column] = value
    return out


def _iso_date(value: str) -> str:
    """DD/MM/YYYY (as UK MIS exports write it) or YYYY-MM-DD."""
    m = _UK_DATE.match(value)
    return f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}" if m else value


Numbered = list[tuple[int, Any]]  # (line, parsed row)


def _good(
    records: list[Record], table: str, parse: Callable[[Any, str], Any], bad: list[BadRow]
) -> Numbered:
    good: Numbered = []
    lines: dict[str, int] = {}
    for line, cells in records:
        try:
            row = parse(_as_payload(table, cells), "row")
        except InvalidInput as e:
            bad.append(BadRow(table, line, _reason(e)))
            continue
        if row.id in lines:
            bad.append(BadRow(table, line, f"id {row.id} is also on line {lines[row.id]}."))
            continue
        lines[row.id] = line
        good.append((line, row))
    return good


def _reason(e: InvalidInput) -> str:
    return e.detail.replace("row.", "").replace("row[", "[")


def _ids_of(records: list[Record]) -> set[str]:
    return {cells["id"] for _, cells in records if 0 < len(cells.get("id", "")) <= 64}


def _unique(rows: Numbered, bad: list[BadRow]) -> Numbered:
    """Staff emails are unique in a school."""
    seen: dict[str, int] = {}
    kept: Numbered = []
    for line, row in rows:
        email = row.email.lower()
        if email in seen:
            bad.append(BadRow("staff", line, f"email {row.email} is also on line {seen[email]}."))
            continue
        seen[email] = line
        kept.append((line, row))
    return kept


def _known(rows: Numbered, known: set[str], bad: list[BadRow]) -> Numbered:
    """Class teachers must be in staff.csv, pupils' classes in classes.csv."""
    kept: Numbered = []
    for line, row in rows:
        column, table, source = (
            ("teachers", "classes", "staff")
            if isinstance(row, ClassRow)
            else ("classes", "pupils", "classes")
        )
        unknown = [ref for ref in getattr(row, column) if ref not in known]
        if unknown:
            bad.append(BadRow(table, line, f"{column}: {', '.join(unknown)} not in {source}.csv."))
            continue
        kept.append((line, row))
    return kept


# -- Stored between the preview and the confirmation -------------------------------------------


def to_json(upload: Upload) -> dict[str, Any]:
    r = upload.roster
    return {
        "staff": [asdict(s) for s in r.staff],
        "classes": [asdict(c) for c in r.classes],
        "pupils": [{**asdict(p), "date_of_birth": _day(p.date_of_birth)} for p in r.pupils],
        "keep": r.keep,
        "bad_rows": [asdict(b) for b in upload.bad_rows],
    }


def from_json(data: dict[str, Any]) -> Upload:
    pupils = [
        PupilRow(**{**p, "date_of_birth": _parse_day(p["date_of_birth"])}) for p in data["pupils"]
    ]
    r = Roster(
        [StaffRow(**s) for s in data["staff"]],
        [ClassRow(**c) for c in data["classes"]],
        pupils,
        data["keep"],
    )
    return Upload(r, [BadRow(**b) for b in data["bad_rows"]])


def _day(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def _parse_day(raw: str | None) -> dt.date | None:
    return None if raw is None else dt.date.fromisoformat(raw)


# -- The preview: what importing it would change -----------------------------------------------

_NOW = {
    "staff": """SELECT external_id AS id, email, first_name, last_name, initials, roles, active,
                       outside_roster FROM staff WHERE school_id = $1""",
    "classes": """SELECT c.external_id AS id, c.name, c.active,
                         ARRAY(SELECT s.external_id FROM class_teachers ct
                               JOIN staff s ON s.id = ct.staff_id WHERE ct.class_id = c.id
                               ORDER BY 1) AS teachers
                  FROM classes c WHERE c.school_id = $1""",
    "pupils": """SELECT p.external_id AS id, p.first_name, p.last_name, p.date_of_birth, p.active,
                        ARRAY(SELECT c.external_id FROM pupil_classes pc
                              JOIN classes c ON c.id = pc.class_id WHERE pc.pupil_id = p.id
                              ORDER BY 1) AS classes
                 FROM pupils p WHERE p.school_id = $1""",
}
_COMPARED = {
    "staff": ("email", "first_name", "last_name", "initials", "roles"),
    "classes": ("name", "teachers"),
    "pupils": ("first_name", "last_name", "date_of_birth", "classes"),
}


async def preview_changes(conn: Connection, school_id: uuid.UUID, r: Roster) -> dict[str, Any]:
    """Per table: who would be added, changed (and which fields) and made inactive; and the
    privileged roles that would wait for the head or a DSL. Reads only."""
    written, asked = await roster.held_back(conn, school_id, r.staff)
    wanted = {
        "staff": written,
        "classes": [asdict(c) for c in r.classes],
        "pupils": [asdict(p) for p in r.pupils],
    }
    out: dict[str, Any] = {}
    for table in TABLES:
        now = {row["id"]: dict(row) for row in await conn.fetch(_NOW[table], school_id)}
        out[table] = _diff(table, now, wanted[table], set(r.keep.get(table, [])))
    names = {s.id: _name(asdict(s)) for s in r.staff}
    out["pending_roles"] = [{"id": a["a"], "name": names[a["a"]], "role": a["b"]} for a in asked]
    return out


def _diff(
    table: str, now: dict[str, dict[str, Any]], wanted: list[dict[str, Any]], keep: set[str]
) -> dict[str, list[dict[str, Any]]]:
    outsiders = {v["email"].lower(): v for v in now.values() if v.get("outside_roster")}
    added, changed = [], []
    for row in wanted:
        before = now.get(row["id"]) or outsiders.get(str(row.get("email", "")).lower())
        if before is None:
            added.append({"id": row["id"], "name": _name(row)})
            continue
        fields = [f for f in _COMPARED[table] if _value(before[f]) != _value(row[f])]
        fields += [] if before["active"] else ["active"]
        fields += ["id"] if before["id"] != row["id"] else []
        if fields:
            changed.append({"id": row["id"], "name": _name(row), "fields": fields})
    listed = (
        {row["id"] for row in wanted}
        | keep
        | {v["id"] for v in outsiders.values() if v["email"].lower() in _emails(wanted)}
    )
    inactive = [
        {"id": v["id"], "name": _name(v)}
        for v in now.values()
        if v["active"] and v["id"] not in listed and not v.get("outside_roster")
    ]
    return {"added": added, "changed": changed, "inactive": sorted(inactive, key=_by_id)}


def _emails(rows: list[dict[str, Any]]) -> set[str]:
    return {str(r["email"]).lower() for r in rows if "email" in r}


def _value(v: Any) -> Any:
    return sorted(v) if isinstance(v, list) else v


def _name(row: dict[str, Any]) -> str:
    return str(row["name"]) if "name" in row else f"{row['first_name']} {row['last_name']}"


def _by_id(row: dict[str, Any]) -> str:
    return str(row["id"])


# -- Kept between the preview and the confirmation ---------------------------------------------

STASH_SECONDS = 1800


def _stash_key(token: str) -> str:
    return "beacon:roster-upload:" + hashlib.sha256(token.encode()).hexdigest()


async def stash(
    redis: Redis, school_id: uuid.UUID, uploader: uuid.UUID | None, upload: Upload
) -> str:
    """Keep the parsed upload for the confirmation; returns its token (only its hash is the
    key). `uploader`: the staff member who previewed it (None: the platform token)."""
    token = secrets.token_urlsafe(24)
    held = {"school": str(school_id), "uploader": _text(uploader), "upload": to_json(upload)}
    await redis.set(_stash_key(token), json.dumps(held), ex=STASH_SECONDS)
    return token


async def unstash(
    redis: Redis, token: str, school_id: uuid.UUID, uploader: uuid.UUID | None
) -> Upload | None:
    """The upload previewed with this token by the same person for the same school; None when
    it expired, was confirmed already, or is someone else's."""
    if not 1 <= len(token) <= 100:
        return None
    raw = await redis.get(_stash_key(token))
    if raw is None:
        return None
    held = json.loads(raw)
    if held["school"] != str(school_id) or held["uploader"] != _text(uploader):
        return None
    return from_json(held["upload"])


async def forget(redis: Redis, token: str) -> None:
    await redis.delete(_stash_key(token))


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
