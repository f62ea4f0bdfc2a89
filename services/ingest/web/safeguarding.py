"""The safeguarding overview, /dsl: what needs a DSL's attention now.

    (a) restricted incidents no DSL or deputy DSL has read, oldest first, with their age and
        how far escalation has gone (services/worker/escalation.py);
    (b) incidents with no action yet, newest first, 50 a page;
    (c) alerts whose email failed for good, with the error, and for restricted incidents the
        escalation step that was raised because of it ("re-raised to the deputy DSLs").
For elevated DSLs, deputy DSLs, SLT and the head; before elevating they are sent to elevate,
and anyone else gets the 404 page. Each view is audited with the incidents it listed.

The queries are services/ingest/records/safeguarding.py's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from services.ingest.records import safeguarding as overview_queries
from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared import audit
from shared.auth.caller import client_ip
from shared.database import Connection
from shared.domain import Role
from shared.problems import NotFound
from shared.web import request_pool

OVERVIEW_ROLES = frozenset({Role.DSL, Role.DEPUTY_DSL, Role.SLT, Role.HEAD})
LIMIT = 50
LEVELS = {1: "the deputy DSLs", 2: "the head"}


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/dsl", overview)


async def overview(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    page = _page_number(request.query.get("page"))
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = guard.viewer(request)
        if not OVERVIEW_ROLES & viewer.roles:
            raise NotFound("No such page.")
        if not s.elevated:
            raise web.HTTPSeeOther(f"/elevate?next={quote(request.path_qs, safe='')}")
        unread = await overview_queries.unread_restricted(conn, s.school_id, LIMIT)
        no_action_total, no_action = await overview_queries.without_action(
            conn, s.school_id, LIMIT, page
        )
        pages = max(1, -(-no_action_total // LIMIT))
        page = min(page, pages)
        failed = await overview_queries.failed_alerts(conn, s.school_id, LIMIT)
        await _audit(conn, s.school_id, s.staff_id, client_ip(request), unread, no_action, failed)
    now = datetime.now(UTC)
    context = {
        "unread": [_unread(r, now) for r in unread],
        "no_action": no_action,
        "no_action_total": no_action_total,
        "failed": [_failed(r) for r in failed],
        "page": page,
        "pages": pages,
        "limit": LIMIT,
    }
    return render(request, "dsl.html", context, s)


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or "1"), 100_000))
    except ValueError:
        return 1


def _unread(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    level = row["level"] or 0
    return {
        **dict(row),
        "age": age(now - row["recorded_at"]),
        "escalation": f"Escalated to {LEVELS[level]}" if level in LEVELS else "Not escalated yet",
    }


def _failed(row: asyncpg.Record) -> dict[str, Any]:
    level = row["reraised_level"]
    return {**dict(row), "reraised": f"Re-raised to {LEVELS[level]}" if level in LEVELS else ""}


def age(elapsed: Any) -> str:
    """'2 days 3 hours', '4 hours 10 minutes', '7 minutes': how long it has waited."""
    minutes = max(0, int(elapsed.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    shown = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(shown) or "under a minute"


async def _audit(
    conn: Connection,
    school_id: Any,
    staff_id: Any,
    ip: str,
    *lists: list[asyncpg.Record],
) -> None:
    listed = dict.fromkeys(str(r["incident_id"]) for rows in lists for r in rows)
    await audit.append(
        conn,
        school_id=school_id,
        actor_staff_id=staff_id,
        action="safeguarding.overview.view",
        ip=ip,
        detail={"incidents": list(listed)},
    )
