"""/admin/calendar: the school day. The nation (its bank holidays), the times the day starts
and ends, term dates and INSET days, entered or imported from an iCalendar (.ics) file, and the
school days of the weeks ahead as the calendar makes them (shared.school_time, which the
worker's escalation uses too). The same use case as /v1/schools/{id}/calendar, audited alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from aiohttp import web

from services.ingest.records import calendar as records
from services.ingest.web import guard
from services.ingest.web.admin import AdminPage, admin_page_for
from services.ingest.web.rendering import render
from services.ingest.web.uploads import read_form
from shared import school_time
from shared.auth.administrators import audit_change
from shared.database import Connection
from shared.problems import InvalidInput
from shared.school_time import SchoolCalendar
from shared.web import request_pool

PATH = "/admin/calendar"
ICAL_PATH = "/admin/calendar/ical"
MAX_ICAL_BYTES = 512 * 1024
AHEAD_DAYS = 28
NATION_NAMES = {
    "england": "England",
    "wales": "Wales",
    "scotland": "Scotland",
    "northern-ireland": "Northern Ireland",
}
_FIELDS = ("nation", "day_starts", "day_ends", "terms", "inset_days")
_TERM = re.compile(r"^\s*(\S+)\s*(?:to|–|-{1,2})\s*(\S+)\s*$")


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get(PATH, calendar_page)
    r.add_post(PATH, save_form)
    r.add_post(ICAL_PATH, import_form)


async def calendar_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        calendar = await records.load_calendar(conn, page.school_id)
    done = {"saved": "The calendar was saved.", "imported": "The term dates were imported."}
    banner = done.get(request.query.get("done", ""), "")
    return _render(request, page, calendar, _form_of(calendar), banner=banner)


async def save_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        posted = await request.post()
        guard.check_form(posted, page.session)
        form = {k: str(posted.get(k, ""))[:20_000] for k in _FIELDS}
        async with conn.transaction():
            before = await records.load_calendar(conn, page.school_id, lock=True)
            try:
                calendar = records.parse_calendar(_body(form))
            except InvalidInput as e:
                errors = {_field(e.field): e.detail.rstrip(".")}
                return _render(request, page, before, form, errors, status=400)
            await _save(request, conn, page, before, calendar, "calendar.set")
    raise _back(page, "saved")


async def import_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        posted = await read_form(request, MAX_ICAL_BYTES)
        guard.check_form(posted.form, page.session)
        async with conn.transaction():
            before = await records.load_calendar(conn, page.school_id, lock=True)
            try:
                imported = records.parse_ical(_ical_text(posted.file_error, posted.uploads))
            except InvalidInput as e:
                errors = {"ical": e.detail.rstrip(".")}
                return _render(request, page, before, _form_of(before), errors, status=400)
            calendar = dataclasses.replace(
                before, terms=tuple(imported.terms), inset_days=frozenset(imported.inset_days)
            )
            await _save(request, conn, page, before, calendar, "calendar.import")
    raise _back(page, "imported")


async def _save(
    request: web.Request,
    conn: Connection,
    page: AdminPage,
    before: SchoolCalendar,
    after: SchoolCalendar,
    what: str,
) -> None:
    await records.save_calendar(conn, page.school_id, after)
    await audit_change(
        conn,
        request,
        page.who,
        page.school_id,
        what,
        records.calendar_json(before),
        records.calendar_json(after),
    )


def _ical_text(file_error: str, uploads: list[Any]) -> str:
    if file_error:
        raise InvalidInput(file_error)
    if not uploads:
        raise InvalidInput("Choose an iCalendar (.ics) file")
    try:
        return str(uploads[0].data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidInput("The file is not an iCalendar file (UTF-8 text)") from None


def _body(form: dict[str, str]) -> dict[str, Any]:
    """The page's fields as the API's body: a term a line ("2026-09-03 to 2026-12-18"), an
    INSET day a line."""
    terms: list[Any] = []
    for line in filter(str.strip, form["terms"].splitlines()):
        match = _TERM.match(line)
        terms.append({"start": match[1], "end": match[2]} if match else {"start": line.strip()})
    return {
        "nation": form["nation"],
        "day_starts": form["day_starts"].strip(),
        "day_ends": form["day_ends"].strip(),
        "terms": terms,
        "inset_days": [d.strip() for d in form["inset_days"].splitlines() if d.strip()],
    }


def _field(path: str | None) -> str:
    """'terms[2].end' -> 'terms': the form has one field for all the terms."""
    name = re.split(r"[\[.]", path or "", maxsplit=1)[0]
    return name if name in _FIELDS else "terms"


def _form_of(calendar: SchoolCalendar) -> dict[str, str]:
    shown = records.calendar_json(calendar)
    return {
        "nation": shown["nation"],
        "day_starts": shown["day_starts"] or "",
        "day_ends": shown["day_ends"] or "",
        "terms": "\n".join(f"{t['start']} to {t['end']}" for t in shown["terms"]),
        "inset_days": "\n".join(shown["inset_days"]),
    }


def _render(
    request: web.Request,
    page: AdminPage,
    calendar: SchoolCalendar,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    banner: str = "",
    status: int = 200,
) -> web.Response:
    today = dt.datetime.now(school_time.LONDON).date()
    ahead = today + dt.timedelta(days=AHEAD_DAYS)
    errors = errors or {}
    context = page.context(
        form=form,
        nations=NATION_NAMES,
        has_hours=calendar.day_starts is not None,
        school_days=school_time.school_days(calendar, today, ahead),
        ahead_from=today,
        ahead_to=ahead,
        errors=errors,
        error_list=list(errors.items()),
        banner=banner,
    )
    return render(request, "admin_calendar.html", context, page.session, status=status)


def _back(page: AdminPage, done: str) -> web.HTTPSeeOther:
    sep = "&" if page.query else "?"
    return web.HTTPSeeOther(f"{PATH}{page.query}{sep}done={done}")
