"""The governors' safeguarding report for a term or a year: numbers only. No pupil or staff
name, no write-up; every count below 5 is "fewer than 5" (suppression.py), in the tables, the
charts and the CSV alike. Each chart has its data table beside it.

An incident in two category groups counts once in each; agencies count the incidents that
involved them. "Action within 24 hours" is measured from when the incident was recorded.
Alert times run from the alert being queued to the email's hand-over to the mail server
(delivery) and to the recipient opening it (read).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from services.worker.exports import charts, rows
from services.worker.exports import formatting as fmt
from services.worker.exports.period import Period, month_label
from services.worker.exports.suppression import SMALL, shown
from shared.database import Connection

TEMPLATE = "governors.html"
ESCALATION_LEVELS = {1: "To the deputy DSLs", 2: "To the head"}

_SCHOOL = "SELECT name FROM schools WHERE id = $1"

_GROUPS = """
SELECT c.name AS grp, c.slug FROM categories c
WHERE c.school_id = $1 AND c.parent_slug IS NULL ORDER BY c.name"""

_BY_GROUP_MONTH = """
SELECT coalesce(c.parent_slug, c.slug) AS slug,
       to_char(i.occurred_at AT TIME ZONE 'Europe/London', 'YYYY-MM') AS month,
       count(DISTINCT i.id) AS n
FROM incidents i
JOIN incident_categories ic ON ic.incident_id = i.id
JOIN categories c ON c.school_id = ic.school_id AND c.slug = ic.category_slug
WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3
GROUP BY 1, 2"""

_BY_MONTH = """
SELECT to_char(i.occurred_at AT TIME ZONE 'Europe/London', 'YYYY-MM') AS month, count(*) AS n
FROM incidents i WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3
GROUP BY 1"""

_AGENCIES = """
SELECT ag.agency, count(DISTINCT i.id) AS n
FROM incidents i JOIN incident_agencies ag ON ag.incident_id = i.id
WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3
GROUP BY 1 ORDER BY 2 DESC, 1"""

_TOTALS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE i.restricted) AS restricted,
       count(*) FILTER (WHERE NOT i.restricted) AS unrestricted,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM actions x WHERE x.incident_id = i.id
           AND x.recorded_at <= i.recorded_at + interval '24 hours')) AS actioned_24h
FROM incidents i WHERE i.school_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3"""

_ALERTS = """
SELECT count(*) AS alerts, count(a.sent_at) AS sent, count(a.read_at) AS read,
       count(*) FILTER (WHERE a.state = 'failed') AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.sent_at - a.queued_at))
         AS delivery_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.sent_at - a.queued_at))
         AS delivery_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.read_at - a.queued_at))
         AS read_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.read_at - a.queued_at))
         AS read_p90
FROM alerts a WHERE a.school_id = $1 AND a.queued_at >= $2 AND a.queued_at < $3"""

_ESCALATIONS = """
SELECT level, count(*) AS n FROM alert_events
WHERE school_id = $1 AND kind = 'escalation' AND created_at >= $2 AND created_at < $3
GROUP BY level"""


async def gather(conn: Connection, export: asyncpg.Record) -> dict[str, Any]:
    period = Period.of(export)
    args = (export["school_id"], period.start, period.end)
    groups = await conn.fetch(_GROUPS, export["school_id"])
    cells = {(r["slug"], r["month"]): r["n"] for r in await conn.fetch(_BY_GROUP_MONTH, *args)}
    by_month = {r["month"]: r["n"] for r in await conn.fetch(_BY_MONTH, *args)}
    months = period.months()
    return {
        "school": await conn.fetchval(_SCHOOL, export["school_id"]),
        "period": period.label,
        "file_period": f"{period.since.isoformat()}-to-{period.until.isoformat()}",
        "made_on": fmt.day(dt.datetime.now(fmt.LONDON).date()),
        "months": [month_label(m) for m in months],
        "groups": [(g["grp"], [cells.get((g["slug"], m), 0) for m in months]) for g in groups],
        "by_month": [by_month.get(m, 0) for m in months],
        "agencies": [(r["agency"], r["n"]) for r in await conn.fetch(_AGENCIES, *args)],
        "totals": dict(rows.one(await conn.fetchrow(_TOTALS, *args), "totals")),
        "alerts": dict(rows.one(await conn.fetchrow(_ALERTS, *args), "alert times")),
        "escalations": {r["level"]: r["n"] for r in await conn.fetch(_ESCALATIONS, *args)},
    }


def context(data: dict[str, Any]) -> dict[str, Any]:
    """What the PDF shows: every count as shown, the charts drawn (sync: runs in a thread)."""
    totals, alerts = data["totals"], data["alerts"]
    group_totals = [(name, sum(counts)) for name, counts in data["groups"]]
    actioned = totals["actioned_24h"]
    within = [("Within 24 hours", actioned), ("Not within 24 hours", totals["total"] - actioned)]
    return {
        **data,
        "total": shown(totals["total"]),
        "group_totals": [(n, shown(c)) for n, c in group_totals],
        "group_months": [(n, [shown(c) for c in counts]) for n, counts in data["groups"]],
        "months_shown": list(
            zip(data["months"], [shown(c) for c in data["by_month"]], strict=True)
        ),
        "agencies_shown": [(a, shown(n)) for a, n in data["agencies"]],
        "restriction": [
            ("Restricted (safeguarding, SLT)", shown(totals["restricted"])),
            ("Not restricted", shown(totals["unrestricted"])),
        ],
        "within_shown": [(label, shown(n)) for label, n in within],
        "alert_rows": alert_rows(alerts),
        "escalation_rows": [
            (label, shown(data["escalations"].get(level, 0)))
            for level, label in ESCALATION_LEVELS.items()
        ],
        "charts": _charts(data, group_totals, within),
    }


def _charts(
    data: dict[str, Any], group_totals: list[tuple[str, int]], within: list[tuple[str, int]]
) -> dict[str, str]:
    drawn = {
        "groups": charts.bars(
            [n for n, _ in group_totals],
            [c for _, c in group_totals],
            "Incidents by category group",
        ),
        "months": charts.bars(
            data["months"], data["by_month"], "Incidents by month", horizontal=False
        ),
        "agencies": charts.bars(
            [a for a, _ in data["agencies"]] or ["None"],
            [n for _, n in data["agencies"]] or [0],
            "Incidents involving each agency",
        ),
        "within": charts.bars(
            [w for w, _ in within],
            [n for _, n in within],
            "Incidents with an action within 24 hours",
        ),
    }
    return {name: charts.data_url(svg) for name, svg in drawn.items()}


def alert_rows(alerts: dict[str, Any]) -> list[tuple[str, str]]:
    """Times are shown only over 5 or more alerts: fewer would describe a person's week."""
    rows = [
        ("Alerts sent to staff", shown(alerts["alerts"])),
        ("Emails that could not be delivered", shown(alerts["failed"])),
    ]
    timed = [
        ("Delivery time, median", alerts["sent"], alerts["delivery_p50"]),
        ("Delivery time, 90th percentile", alerts["sent"], alerts["delivery_p90"]),
        ("Time until read, median", alerts["read"], alerts["read_p50"]),
        ("Time until read, 90th percentile", alerts["read"], alerts["read_p90"]),
    ]
    for label, count, seconds in timed:
        rows.append((label, fmt.duration(seconds) if count >= SMALL else "fewer than 5 alerts"))
    return rows


def filename(data: dict[str, Any], format: str) -> str:
    return f"governors-report-{data['file_period']}.{format}"


def csv(context: dict[str, Any]) -> bytes:
    """One row per figure: section, what, month (or blank), value as shown in the PDF."""
    rows: list[list[object]] = [["Incidents", "All", "", context["total"]]]
    for name, counts in context["group_months"]:
        rows.extend(
            ["Incidents by category group and month", name, m, c]
            for m, c in zip(context["months"], counts, strict=True)
        )
    rows += [["Incidents by category group", n, "", c] for n, c in context["group_totals"]]
    rows += [["Incidents by month", "All", m, c] for m, c in context["months_shown"]]
    rows += [["Incidents involving each agency", a, "", c] for a, c in context["agencies_shown"]]
    rows += [["Restricted and not restricted", label, "", c] for label, c in context["restriction"]]
    rows += [["Action within 24 hours", label, "", c] for label, c in context["within_shown"]]
    rows += [["Alerts", label, "", c] for label, c in context["alert_rows"]]
    rows += [["Escalations", label, "", c] for label, c in context["escalation_rows"]]
    return fmt.csv_bytes(("section", "what", "month", "value"), rows)
