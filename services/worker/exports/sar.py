"""A subject access request's export: everything Beacon holds about the pupil, as one PDF.

Every incident about the pupil or that links them, in the order they happened, with its actions,
body map, agencies and file list; the alerts sent about those incidents; and the audit of who
viewed the record. Third parties are redacted by sar_redaction (other pupils always by default,
staff as the school says), with the handler's decisions applied. Both stages write down the
parties found (`sar_parties`, labels kept), which the handler then reviews on /sars/{id}.

The draft is marked REVIEW DRAFT on every page and is as the final would be today; the final is
what goes to the requester. Restricted incidents are included: whether an exemption applies
(serious harm, a crime's prevention) is the handler's to decide while reviewing.
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
from services.worker.exports.sar_redaction import Key, Person, Redactor
from shared.database import Connection

TEMPLATE = "sar.html"

_SAR = """
SELECT s.id, s.received_on, s.due_on, s.requester, s.relationship, sc.name AS school,
       sc.sar_redact_staff, p.id AS pupil_id, p.external_id, p.first_name, p.last_name,
       p.date_of_birth
FROM sars s JOIN schools sc ON sc.id = s.school_id JOIN pupils p ON p.id = s.pupil_id
WHERE s.school_id = $1 AND s.id = $2 AND s.pupil_id = $3"""

_INCIDENTS = """
SELECT i.id, i.reference, i.pupil_id, i.author_id, i.occurred_at, i.recorded_at,
       i.description, i.restricted,
       ARRAY(SELECT coalesce(g.name || ': ', '') || c.name
             FROM incident_categories ic
             JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
             LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
             WHERE ic.incident_id = i.id ORDER BY ic.category_slug) AS categories,
       ARRAY(SELECT ag.agency FROM incident_agencies ag
             WHERE ag.incident_id = i.id ORDER BY ag.position) AS agencies,
       ARRAY(SELECT l.pupil_id FROM incident_linked_pupils l
             WHERE l.incident_id = i.id ORDER BY l.pupil_id) AS linked
FROM incidents i
WHERE i.school_id = $1 AND (i.pupil_id = $2 OR EXISTS (
        SELECT FROM incident_linked_pupils l WHERE l.incident_id = i.id AND l.pupil_id = $2))
ORDER BY i.occurred_at, i.recorded_at, i.id"""

_MARKS = """SELECT incident_id, view, region, note FROM body_map_marks
WHERE incident_id = ANY($1::uuid[]) ORDER BY incident_id, position"""

_ACTIONS = """SELECT incident_id, recorded_at, description, author_id FROM actions
WHERE incident_id = ANY($1::uuid[]) ORDER BY recorded_at, id"""

_FILES = """SELECT incident_id, filename, size_bytes, uploaded_at, uploaded_by FROM incident_files
WHERE incident_id = ANY($1::uuid[]) ORDER BY uploaded_at, id"""

_ALERTS = """
SELECT i.reference, a.recipient_id, a.queued_at, a.sent_at, a.read_at, a.state
FROM alerts a JOIN incidents i ON i.id = a.incident_id
WHERE a.incident_id = ANY($1::uuid[]) ORDER BY a.queued_at, a.id"""

# Who viewed the record: an incident of it, the pupil's chronology, or asked for an export.
_VIEWS = """
SELECT at, actor_staff_id, action, subject_id, detail ->> 'kind' AS kind FROM audit_log
WHERE school_id = $1 AND actor_staff_id IS NOT NULL AND (
      (action = 'incident.view' AND subject_type = 'incident' AND subject_id = ANY($2::text[]))
   OR (action = 'chronology.view' AND subject_type = 'pupil' AND subject_id = $3)
   OR (action = 'export.request' AND detail ->> 'pupil' = $4))
ORDER BY at, id"""

_PUPILS = "SELECT id, first_name, last_name FROM pupils WHERE school_id = $1"
_STAFF = "SELECT id, first_name, last_name, roles FROM staff WHERE school_id = $1"
_LABELS = "SELECT party_kind, party_id, label FROM sar_parties WHERE sar_id = $1"
_DECISIONS = """
SELECT DISTINCT ON (party_kind, party_id) party_kind, party_id, decision FROM sar_decisions
WHERE sar_id = $1 ORDER BY party_kind, party_id, id DESC"""
_RECORD_PARTY = """
INSERT INTO sar_parties (sar_id, party_kind, party_id, label, redacted_by_default, found)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (sar_id, party_kind, party_id) DO UPDATE SET found = EXCLUDED.found"""


async def gather(conn: Connection, export: asyncpg.Record) -> dict[str, Any]:
    params = json.loads(export["params"])
    school_id, stage = export["school_id"], params["stage"]
    sar = rows.one(
        await conn.fetchrow(_SAR, school_id, uuid.UUID(params["sar"]), export["pupil_id"]),
        "the subject access request",
    )
    redactor = await _redactor(conn, school_id, sar)
    incidents = await conn.fetch(_INCIDENTS, school_id, sar["pupil_id"])
    ids = [i["id"] for i in incidents]
    linked = {i["reference"] for i in incidents if i["pupil_id"] != sar["pupil_id"]}
    entries = _entries(redactor, sar["pupil_id"], incidents, await _details(conn, ids))
    alerts = [_alert(redactor, a) for a in await conn.fetch(_ALERTS, ids)]
    references = {str(i["id"]): i["reference"] for i in incidents}
    views = await conn.fetch(
        _VIEWS, school_id, [str(i) for i in ids], str(sar["pupil_id"]), sar["external_id"]
    )
    shown_views = [_view(redactor, v, references) for v in views]
    await _record_parties(conn, sar["id"], redactor)
    return {
        "school": sar["school"],
        "pupil": f"{sar['first_name']} {sar['last_name']}",
        "pupil_id": sar["external_id"],
        "date_of_birth": fmt.day(sar["date_of_birth"]) if sar["date_of_birth"] else "Not known",
        "draft": stage == "draft",
        "received_on": fmt.day(sar["received_on"]),
        "due_on": fmt.day(sar["due_on"]),
        "requester": f"{sar['requester']} ({sar['relationship']})",
        "made_on": fmt.day(dt.datetime.now(fmt.LONDON).date()),
        "entries": entries,
        "linked_count": len(linked),
        "alerts": alerts,
        "views": shown_views,
        "redacted": sum(1 for k in redactor.found if redactor.redacted(k)),
        "staff_redacted": sar["sar_redact_staff"],
        "file_date": export["created_at"].astimezone(fmt.LONDON).date().isoformat(),
        "stage": stage,
    }


async def _redactor(conn: Connection, school_id: uuid.UUID, sar: asyncpg.Record) -> Redactor:
    people: dict[Key, Person] = {}
    for p in await conn.fetch(_PUPILS, school_id):
        people[("pupil", p["id"])] = Person("pupil", p["id"], p["first_name"], p["last_name"])
    for s in await conn.fetch(_STAFF, school_id):
        person = Person("staff", s["id"], s["first_name"], s["last_name"], fmt.role(s["roles"]))
        people[person.key] = person
    subject = people.pop(("pupil", sar["pupil_id"]))
    labels = {
        (r["party_kind"], r["party_id"]): r["label"] for r in await conn.fetch(_LABELS, sar["id"])
    }
    decisions = {
        (r["party_kind"], r["party_id"]): r["decision"]
        for r in await conn.fetch(_DECISIONS, sar["id"])
    }
    return Redactor(subject, people, sar["sar_redact_staff"], labels, decisions)


async def _details(conn: Connection, ids: list[uuid.UUID]) -> dict[str, dict[Any, list[Any]]]:
    """Marks, actions and files by incident."""
    found: dict[str, dict[Any, list[Any]]] = {}
    for name, query in (("marks", _MARKS), ("actions", _ACTIONS), ("files", _FILES)):
        by_incident: dict[Any, list[Any]] = defaultdict(list)
        for r in await conn.fetch(query, ids):
            by_incident[r["incident_id"]].append(r)
        found[name] = by_incident
    return found


def _entries(
    r: Redactor,
    subject_id: uuid.UUID,
    incidents: list[asyncpg.Record],
    details: dict[str, dict[Any, list[Any]]],
) -> list[dict[str, Any]]:
    out = []
    for i in incidents:
        about = None if i["pupil_id"] == subject_id else r.person(("pupil", i["pupil_id"]))
        others = [r.person(("pupil", p)) for p in i["linked"] if p != subject_id]
        out.append(
            {
                "reference": i["reference"],
                "date": fmt.when(i["occurred_at"]),
                "recorded": fmt.when(i["recorded_at"]),
                "categories": list(i["categories"]),
                "restricted": i["restricted"],
                "about": about,
                "linked": others,
                "source": r.person(("staff", i["author_id"])),
                "description": r.text(i["description"]),
                "agencies": [r.text(a) for a in i["agencies"]],
                "marks": [_mark(r, m) for m in details["marks"][i["id"]]],
                "files": [_file(r, f) for f in details["files"][i["id"]]],
                "actions": [_action(r, a) for a in details["actions"][i["id"]]],
            }
        )
    return out


def _mark(r: Redactor, m: asyncpg.Record) -> str:
    note = r.text(m["note"])
    return f"{m['view']} {m['region']}" + (f": {note}" if note else "")


def _file(r: Redactor, f: asyncpg.Record) -> dict[str, str]:
    return {
        "name": r.text(f["filename"]),
        "size": f"{max(1, round(f['size_bytes'] / 1024))} KB",
        "when": fmt.when(f["uploaded_at"]),
        "by": r.person(("staff", f["uploaded_by"])),
    }


def _action(r: Redactor, a: asyncpg.Record) -> dict[str, str]:
    return {
        "date": fmt.when(a["recorded_at"]),
        "description": r.text(a["description"]),
        "by": r.person(("staff", a["author_id"])),
    }


def _alert(r: Redactor, a: asyncpg.Record) -> dict[str, str]:
    return {
        "reference": str(a["reference"]),
        "to": r.person(("staff", a["recipient_id"])),
        "queued": fmt.when(a["queued_at"]),
        "sent": fmt.when(a["sent_at"]) if a["sent_at"] else "Not sent",
        "read": fmt.when(a["read_at"]) if a["read_at"] else "Not read",
    }


def _view(r: Redactor, v: asyncpg.Record, references: dict[str, int]) -> dict[str, str]:
    if v["action"] == "incident.view":
        what = f"Incident #{references.get(v['subject_id'], '?')}"
    elif v["action"] == "chronology.view":
        what = "The pupil's chronology"
    else:
        what = f"Asked for an export ({v['kind'] or 'export'})"
    return {
        "when": fmt.when(v["at"]),
        "who": r.person(("staff", v["actor_staff_id"])),
        "what": what,
    }


async def _record_parties(conn: Connection, sar_id: uuid.UUID, r: Redactor) -> None:
    defaults = Redactor(r.subject, {}, r.redact_staff)  # no decisions: the default alone
    await conn.executemany(
        _RECORD_PARTY,
        [
            (
                sar_id,
                kind,
                party_id,
                r.labels[(kind, party_id)],
                defaults.redacted((kind, party_id)),
                n,
            )
            for (kind, party_id), n in r.found.items()
        ],
    )


def context(data: dict[str, Any]) -> dict[str, Any]:
    return data


def filename(data: dict[str, Any], format: str) -> str:
    pupil = re.sub(r"[^A-Za-z0-9_-]", "_", data["pupil_id"])[:40]
    return f"sar-{pupil}-{data['stage']}-{data['file_date']}.{format}"
