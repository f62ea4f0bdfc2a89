"""The Ofsted pack, ready in one click: for the period (the last twelve months by default)
- referrals made: every agency involved in an incident, with the date and the incident;
- pupils with open safeguarding incidents: "open" means no action has been recorded on it yet
  (the pack says so);
- every incident with no action yet, oldest first.
Pupils are named (an inspector reviews case files); staff are not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from services.worker.exports import formatting as fmt
from services.worker.exports.period import Period
from shared.database import Connection

TEMPLATE = "ofsted.html"
OPEN_MEANS = "Open means that no action has been recorded on the incident yet."

_SCHOOL = "SELECT name FROM schools WHERE id = $1"

_CATEGORY_NAMES = """ARRAY(SELECT coalesce(g.name || ': ', '') || c.name
  FROM incident_categories ic
  JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
  LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
  WHERE ic.incident_id = i.id ORDER BY ic.category_slug)"""

_NO_ACTION = "NOT EXISTS (SELECT 1 FROM actions x WHERE x.incident_id = i.id)"

_REFERRALS = f"""
SELECT i.occurred_at, ag.agency, i.reference, p.external_id AS pupil_id,
       {_CATEGORY_NAMES} AS categories
FROM incidents i
JOIN incident_agencies ag ON ag.incident_id = i.id
JOIN pupils p ON p.id = i.pupil_id
WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3
ORDER BY i.occurred_at, i.reference, ag.position"""  # noqa: S608 (constant text)

_OPEN_SAFEGUARDING = f"""
SELECT p.external_id AS pupil_id, p.first_name || ' ' || p.last_name AS pupil,
       count(*) AS open, min(i.occurred_at) AS oldest,
       array_agg(i.reference ORDER BY i.occurred_at) AS refs
FROM incidents i JOIN pupils p ON p.id = i.pupil_id
WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3 AND {_NO_ACTION}
  AND EXISTS (SELECT 1 FROM incident_categories c WHERE c.incident_id = i.id
              AND (c.category_slug = 'safeguarding'
                   OR starts_with(c.category_slug, 'safeguarding/')))
GROUP BY p.id ORDER BY min(i.occurred_at), p.external_id"""  # noqa: S608 (constant text)

_WITHOUT_ACTION = f"""
SELECT i.reference, i.occurred_at, i.recorded_at, i.restricted, p.external_id AS pupil_id,
       {_CATEGORY_NAMES} AS categories
FROM incidents i JOIN pupils p ON p.id = i.pupil_id
WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3 AND {_NO_ACTION}
ORDER BY i.recorded_at, i.reference"""  # noqa: S608 (constant text)


async def gather(conn: Connection, export: asyncpg.Record) -> dict[str, Any]:
    period = Period.of(export)
    args = (export["school_id"], period.start, period.end)
    now = dt.datetime.now(dt.UTC)
    return {
        "school": await conn.fetchval(_SCHOOL, export["school_id"]),
        "period": period.label,
        "file_period": f"{period.since.isoformat()}-to-{period.until.isoformat()}",
        "made_on": fmt.day(now.astimezone(fmt.LONDON).date()),
        "open_means": OPEN_MEANS,
        "referrals": [_referral(r) for r in await conn.fetch(_REFERRALS, *args)],
        "open_pupils": [_open(r) for r in await conn.fetch(_OPEN_SAFEGUARDING, *args)],
        "no_action": [_waiting(r, now) for r in await conn.fetch(_WITHOUT_ACTION, *args)],
    }


def _referral(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "date": fmt.when(r["occurred_at"]),
        "agency": r["agency"],
        "reference": r["reference"],
        "pupil_id": r["pupil_id"],
        "categories": "; ".join(r["categories"]),
    }


def _open(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "pupil": r["pupil"],
        "pupil_id": r["pupil_id"],
        "open": r["open"],
        "oldest": fmt.when(r["oldest"]),
        "references": ", ".join(f"#{n}" for n in r["refs"]),
    }


def _waiting(r: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
    return {
        "reference": r["reference"],
        "date": fmt.when(r["occurred_at"]),
        "recorded": fmt.when(r["recorded_at"]),
        "days": (now - r["recorded_at"]).days,
        "restricted": "yes" if r["restricted"] else "no",
        "pupil_id": r["pupil_id"],
        "categories": "; ".join(r["categories"]),
    }


def context(data: dict[str, Any]) -> dict[str, Any]:
    return data


def filename(data: dict[str, Any], format: str) -> str:
    return f"ofsted-pack-{data['file_period']}.{format}"


def csv(data: dict[str, Any]) -> bytes:
    """Every list in one sheet: a `section` column says which."""
    header = ("section", "date", "incident", "pupil_id", "pupil", "agency", "categories", "detail")
    rows: list[list[object]] = []
    rows += [
        ["referral", r["date"], r["reference"], r["pupil_id"], "", r["agency"], r["categories"], ""]
        for r in data["referrals"]
    ]
    rows += [
        [
            "open safeguarding",
            o["oldest"],
            o["references"],
            o["pupil_id"],
            o["pupil"],
            "",
            "",
            f"{o['open']} open (no action yet)",
        ]
        for o in data["open_pupils"]
    ]
    rows += [
        [
            "no action",
            w["date"],
            w["reference"],
            w["pupil_id"],
            "",
            "",
            w["categories"],
            f"recorded {w['recorded']}, {w['days']} days ago",
        ]
        for w in data["no_action"]
    ]
    return fmt.csv_bytes(header, rows)
