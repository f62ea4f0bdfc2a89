"""Pupils: finding one, and their chronology.

/pupils              elevated DSL/SLT/pastoral/head: whole-school search by name or id;
                     anyone else: their own pupils (privileged staff are offered
                     elevation, and a search sends them to elevate first).
/pupils/{pupil_id}   the chronology (records.chronology): filtered by category and dates
                     (a GET form), 50 entries a page, every view audited. Someone else's
                     pupil is 404 for a teacher, and to elevate for privileged staff.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from services.ingest.records import chronology
from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared import access, fields
from shared.access import Viewer
from shared.auth.caller import client_ip
from shared.domain import PRIVILEGED_ROLES
from shared.problems import NotFound
from shared.web import request_pool

LONDON = ZoneInfo("Europe/London")
MAX_QUERY = 100
# A record typed up this long after it happened is shown with when it was recorded.
BACKDATED = timedelta(hours=1)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/pupils", pupils_page)
    r.add_get("/pupils/{pupil_id}", chronology_page)


async def pupils_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    q = request.query.get("q", "").strip()[:MAX_QUERY]
    async with request_pool(request).acquire() as conn:
        viewer = guard.viewer(request)
        if q and _may_elevate(viewer):
            raise _to_elevate(request)
        found = await chronology.search_pupils(conn, viewer, q)
    context = {
        "q": q,
        "pupils": found,
        "whole_school": viewer.sees_whole_school,
        "may_elevate": _may_elevate(viewer),
        "limit": chronology.SEARCH_LIMIT,
    }
    return render(request, "pupils.html", context, s)


async def chronology_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    external_id = fields.path_key(request.match_info["pupil_id"], "pupil")
    async with request_pool(request).acquire() as conn, conn.transaction():
        viewer = guard.viewer(request)
        pupil = await chronology.find_pupil(conn, s.school_id, external_id)
        if pupil is None or not access.can_view_pupil(viewer, s.school_id, pupil["id"]):
            if _may_elevate(viewer):
                raise _to_elevate(request)  # whether or not the pupil exists: no oracle
            raise NotFound("No such pupil.")
        categories = await chronology.filter_categories(conn, viewer)
        filters, form, errors = _filters(request.query, categories)
        found = await chronology.view_chronology(
            conn,
            viewer,
            pupil,
            filters,
            _page_number(request.query.get("page")),
            ip=client_ip(request),
        )
    context = {
        "pupil": pupil,
        "found": found,
        "entries": [_entry(e, pupil) for e in found.entries],
        "categories": categories,
        "form": form,
        "filtered": bool(filters.audited()),
        "may_elevate": _may_elevate(viewer),
        "first": (found.page - 1) * chronology.PAGE_SIZE + 1,
        "prev_url": _page_url(request, found.page - 1) if found.page > 1 else "",
        "next_url": _page_url(request, found.page + 1) if found.page < found.pages else "",
        "errors": errors,
        "error_list": list(errors.items()),
    }
    return render(request, "chronology.html", context, s, status=400 if errors else 200)


def _may_elevate(viewer: Viewer) -> bool:
    """Privileged staff not yet elevated: elevating would show them the whole school."""
    return not viewer.elevated and bool(viewer.roles & PRIVILEGED_ROLES)


def _to_elevate(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/elevate?next={quote(request.path_qs, safe='')}")


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or "1"), 100_000))
    except ValueError:
        return 1


def _page_url(request: web.Request, page: int) -> str:
    kept = [(k, v) for k, v in request.query.items() if k != "page"]
    return f"{request.path}?{urlencode([*kept, ('page', str(page))])}"


# -- The filter form ---------------------------------------------------------------------------

Categories = list[tuple[str, list[tuple[str, str]]]]


def _filters(
    query: Any, categories: Categories
) -> tuple[chronology.Filters, dict[str, str], dict[str, str]]:
    """The filters asked for, the form's values as sent, and an error per field; a field in
    error is left out of the filters."""
    form = {k: query.get(k, "").strip()[:20] for k in _DATE_FIELDS}
    form["category"] = query.get("category", "").strip()[:200]
    errors: dict[str, str] = {}
    slugs = {slug for _, options in categories for slug, _ in options}
    category = form["category"] or None
    if category is not None and category not in slugs:
        errors["category"] = "Select a category from the list"
        category = None
    since, since_error = _date(form, "from", "Date from")
    until, until_error = _date(form, "to", "Date to")
    errors |= {k: v for k, v in (("from-day", since_error), ("to-day", until_error)) if v}
    if since and until and until < since:
        errors["to-day"] = "Date to must be the same as or after date from"
        until = None
    filters = chronology.Filters(category, _start_of(since), _start_of(until, days=1))
    return filters, form, errors


_DATE_FIELDS = [f"{side}-{part}" for side in ("from", "to") for part in ("day", "month", "year")]


def _date(form: dict[str, str], side: str, label: str) -> tuple[date | None, str]:
    parts = [form[f"{side}-{p}"] for p in ("day", "month", "year")]
    if not any(parts):
        return None, ""
    missing = [name for name, v in zip(("day", "month", "year"), parts, strict=True) if not v]
    if missing:
        return None, f"{label} must include a {' and '.join(missing)}"
    try:
        day, month, year = (int(p) for p in parts)
        if not 1900 <= year <= 2999:
            raise ValueError
        return date(year, month, day), ""
    except ValueError:
        return None, f"{label} must be a real date"


def _start_of(d: date | None, days: int = 0) -> datetime | None:
    """Midnight in the school's time zone (UK), `days` later."""
    if d is None:
        return None
    return datetime.combine(d + timedelta(days=days), datetime.min.time(), LONDON).astimezone(UTC)


def _entry(row: asyncpg.Record, pupil: asyncpg.Record) -> dict[str, Any]:
    return {
        "kind": row["kind"],
        "incident_id": row["incident_id"],
        "reference": row["reference"],
        "at": row["at"],
        "recorded_at": row["recorded_at"],
        "backdated": row["kind"] == "incident" and row["recorded_at"] - row["at"] > BACKDATED,
        "description": row["description"],
        "restricted": row["restricted"],
        "author": row["author_name"],
        "categories": list(row["category_names"]) if row["kind"] == "incident" else [],
        "about": row["pupil_name"] if row["pupil_id"] != pupil["id"] else "",
    }
