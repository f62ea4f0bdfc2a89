"""The case-conference chronology of one pupil: the incidents the requester chose (ids decided
by ingest with their view of the pupil, in params["incidents"]), in the order they happened,
each with who recorded it and every action taken on it.

Without staff names, people are shown by role, and the school's staff named in the text of a
record ("Finn Teacher", "Mr Teacher") are replaced by their role as well. Names spelt any other
way (a first name alone, a nickname) are not found: the DSL reads the export before it leaves.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import defaultdict
from typing import Any

import asyncpg

from services.worker.exports import formatting as fmt
from services.worker.exports import rows
from shared.database import Connection

TEMPLATE = "chronology.html"

_HEAD = """
SELECT s.name AS school, p.external_id, p.first_name, p.last_name, p.date_of_birth,
       r.first_name || ' ' || r.last_name AS requester, r.roles AS requester_roles
FROM schools s
JOIN pupils p ON p.school_id = s.id AND p.id = $2
JOIN staff r ON r.school_id = s.id AND r.id = $3
WHERE s.id = $1"""

_INCIDENTS = """
SELECT i.id, i.reference, i.occurred_at, i.recorded_at, i.description, i.restricted,
       i.pupil_id <> $3 AS linked,
       a.first_name || ' ' || a.last_name AS author, a.roles AS author_roles,
       ARRAY(SELECT coalesce(g.name || ': ', '') || c.name
             FROM incident_categories ic
             JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE ic.incident_id = i.id ORDER BY ic.category_slug) AS categories,
       ARRAY(SELECT ag.agency FROM incident_agencies ag
             WHERE ag.incident_id = i.id ORDER BY ag.position) AS agencies,
       ARRAY(SELECT m.view || ' ' || m.region || CASE WHEN m.note <> '' THEN ': ' || m.note
                                                      ELSE '' END
             FROM body_map_marks m WHERE m.incident_id = i.id ORDER BY m.position) AS marks
FROM incidents i JOIN staff a ON a.id = i.author_id
WHERE i.school_id = $1 AND i.id = ANY($2::uuid[])
ORDER BY i.occurred_at, i.recorded_at, i.id"""

_ACTIONS = """
SELECT x.incident_id, x.recorded_at, x.description,
       s.first_name || ' ' || s.last_name AS author, s.roles AS author_roles
FROM actions x JOIN staff s ON s.id = x.author_id
WHERE x.school_id = $1 AND x.incident_id = ANY($2::uuid[])
ORDER BY x.recorded_at, x.id"""

_STAFF = "SELECT first_name, last_name, roles FROM staff WHERE school_id = $1"


async def gather(conn: Connection, export: asyncpg.Record) -> dict[str, Any]:
    params = json.loads(export["params"])
    ids = [uuid.UUID(i) for i in params["incidents"]]
    head = rows.one(
        await conn.fetchrow(_HEAD, export["school_id"], export["pupil_id"], export["requested_by"]),
        "the pupil or the requester",
    )
    incidents = await conn.fetch(_INCIDENTS, export["school_id"], ids, export["pupil_id"])
    actions = await conn.fetch(_ACTIONS, export["school_id"], ids)
    names = params.get("staff_names", True)
    redact = None if names else _redactor(await conn.fetch(_STAFF, export["school_id"]))
    by_incident: dict[uuid.UUID, list[dict[str, str]]] = defaultdict(list)
    for a in actions:
        by_incident[a["incident_id"]].append(_action(a, names, redact))
    since, until = _day(params.get("from")), _day(params.get("to"))
    return {
        "school": head["school"],
        "pupil": f"{head['first_name']} {head['last_name']}",
        "pupil_id": head["external_id"],
        "date_of_birth": fmt.day(head["date_of_birth"]) if head["date_of_birth"] else "Not known",
        "range": fmt.date_range(since, until),
        "categories": params.get("categories") or [],
        "picked": params.get("picked", False),
        "staff_names": names,
        "made_on": fmt.day(dt.datetime.now(fmt.LONDON).date()),
        "requested_on": fmt.when(export["created_at"]),
        "requested_by": fmt.staff(head["requester"], head["requester_roles"], names),
        "entries": [_entry(i, by_incident[i["id"]], names, redact) for i in incidents],
        "file_date": export["created_at"].astimezone(fmt.LONDON).date().isoformat(),
    }


def _day(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


Redactor = Any  # (text) -> text, or None when names are kept


def _entry(
    row: asyncpg.Record, actions: list[dict[str, str]], names: bool, redact: Redactor
) -> dict[str, Any]:
    clean = redact or (lambda text: text)
    return {
        "reference": row["reference"],
        "date": fmt.when(row["occurred_at"]),
        "recorded": fmt.when(row["recorded_at"]),
        "backdated": row["recorded_at"] - row["occurred_at"] > dt.timedelta(hours=1),
        "categories": list(row["categories"]),
        "description": clean(row["description"]),
        "agencies": list(row["agencies"]),
        "marks": [clean(m) for m in row["marks"]],
        "linked": row["linked"],
        "restricted": row["restricted"],
        "source": fmt.staff(row["author"], row["author_roles"], names),
        "actions": actions,
    }


def _action(row: asyncpg.Record, names: bool, redact: Redactor) -> dict[str, str]:
    return {
        "date": fmt.when(row["recorded_at"]),
        "description": redact(row["description"]) if redact else row["description"],
        "by": fmt.staff(row["author"], row["author_roles"], names),
    }


def _redactor(staff: list[asyncpg.Record]) -> Redactor:
    """Replaces "First Last" and "Mr/Mrs/Ms/Miss/Dr Last" of every member of staff by their
    role (longest names first, whole words, any case)."""
    roles: dict[str, str] = {}
    for s in staff:
        label = fmt.role(s["roles"])
        roles[f"{s['first_name']} {s['last_name']}".lower()] = label
        for title in ("mr", "mrs", "ms", "miss", "dr"):
            roles[f"{title} {s['last_name']}".lower()] = label
            roles[f"{title}. {s['last_name']}".lower()] = label
    if not roles:
        return None
    names = sorted(roles, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.IGNORECASE)

    def redact(text: str) -> str:
        return pattern.sub(lambda m: f"[{roles[m.group(0).lower()]}]", text)

    return redact


def context(data: dict[str, Any]) -> dict[str, Any]:
    return data


def filename(data: dict[str, Any], format: str) -> str:
    pupil = re.sub(r"[^A-Za-z0-9_-]", "_", data["pupil_id"])[:40]
    return f"chronology-{pupil}-{data['file_date']}.{format}"


CSV_HEADER = ("date", "kind", "incident", "categories", "description", "recorded_by", "agencies")


def csv(data: dict[str, Any]) -> bytes:
    rows: list[list[object]] = []
    for e in data["entries"]:
        rows.append(
            [
                e["date"],
                "incident",
                e["reference"],
                "; ".join(e["categories"]),
                e["description"],
                e["source"],
                "; ".join(e["agencies"]),
            ]
        )
        rows.extend(
            [a["date"], "action", e["reference"], "", a["description"], a["by"], ""]
            for a in e["actions"]
        )
    return fmt.csv_bytes(CSV_HEADER, rows)
