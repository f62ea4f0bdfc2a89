"""A school's calendar over the API (the platform token or an elevated admin of the school).

    PUT  /v1/schools/{school_id}/calendar   {"nation", "day_starts", "day_ends", "terms":
                                             [{"start", "end"}], "inset_days": [...]} -> 200
    GET  /v1/schools/{school_id}/calendar?from=&to=  -> 200 {"school_days": [...],
                                             "day_starts", "day_ends", "nation", "terms",
                                             "inset_days", "bank_holidays"}
    POST /v1/schools/{school_id}/calendar/ical   a text/calendar body -> 200: its terms and
                                             INSET days replace the school's (nation and hours
                                             stay), with the events it skipped

School days are shared.school_time's: with no terms set, every weekday but the nation's bank
holidays. Every change is audited with the calendar before and after.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.categories import administrator
from services.ingest.api.context import database, path_id, state
from services.ingest.records import calendar as records
from shared import school_time
from shared.auth.administrators import audit_change
from shared.problems import InvalidInput, TooLarge, UnsupportedMediaType

PATH = "/v1/schools/{school_id}/calendar"
ICAL_PATH = PATH + "/ical"
ICAL_TYPE = "text/calendar"


async def get_calendar(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    await administrator(request, school_id)
    start, end = records.parse_range(request.query, dt.datetime.now(school_time.LONDON).date())
    async with database(request) as conn:
        calendar = await records.load_calendar(conn, school_id)
    holidays = {
        d
        for year in range(start.year, end.year + 1)
        for d in school_time.bank_holidays(calendar.nation, year)
        if start <= d <= end
    }
    return web.json_response(
        {
            **records.calendar_json(calendar),
            "school_days": [d.isoformat() for d in school_time.school_days(calendar, start, end)],
            "bank_holidays": [d.isoformat() for d in sorted(holidays)],
        }
    )


async def put_calendar(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    who = await administrator(request, school_id)
    calendar = records.parse_calendar(
        await read_json(request, state(request).settings.max_body_bytes)
    )
    async with database(request) as conn, conn.transaction():
        before = await records.load_calendar(conn, school_id, lock=True)
        await records.save_calendar(conn, school_id, calendar)
        after = records.calendar_json(calendar)
        await audit_change(
            conn, request, who, school_id, "calendar.set", records.calendar_json(before), after
        )
    return web.json_response(after)


async def post_ical(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    who = await administrator(request, school_id)
    imported = records.parse_ical(await _read_text(request))
    async with database(request) as conn, conn.transaction():
        before = await records.load_calendar(conn, school_id, lock=True)
        calendar = dataclasses.replace(
            before, terms=tuple(imported.terms), inset_days=frozenset(imported.inset_days)
        )
        await records.save_calendar(conn, school_id, calendar)
        after = records.calendar_json(calendar)
        await audit_change(
            conn, request, who, school_id, "calendar.import", records.calendar_json(before), after
        )
    return web.json_response({**after, "skipped": imported.skipped})


async def _read_text(request: web.Request) -> str:
    """The iCalendar body as text (UTF-8, with or without a BOM), bounded in size."""
    if request.content_type != ICAL_TYPE:
        raise UnsupportedMediaType(f"Send the file as {ICAL_TYPE}.", field="Content-Type")
    limit = state(request).settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"The body may be at most {limit} bytes.")
    chunks: list[bytes] = []
    while chunk := await request.content.readany():
        chunks.append(chunk)
        if sum(map(len, chunks)) > limit:
            raise TooLarge(f"The body may be at most {limit} bytes.")
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text.", field="body") from None


def openapi_paths(problems: Any) -> dict[str, Any]:
    """This module's part of /v1/openapi.json; `problems(*statuses)` renders error responses."""
    day = {"type": "string", "format": "date"}
    time = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
    nation = {"enum": list(school_time.NATIONS)}
    term = {
        "type": "object",
        "additionalProperties": False,
        "required": ["start", "end"],
        "properties": {"start": day, "end": {**day, "description": "The last day, inclusive."}},
    }
    setting = {
        "type": "object",
        "additionalProperties": False,
        "required": ["nation", "day_starts", "day_ends"],
        "properties": {
            "nation": nation,
            "day_starts": time,
            "day_ends": {**time, "description": "After day_starts (Europe/London)."},
            "terms": {"type": "array", "maxItems": records.MAX_TERMS, "items": term},
            "inset_days": {"type": "array", "maxItems": records.MAX_INSET_DAYS, "items": day},
        },
    }
    stored: dict[str, Any] = {
        "type": "object",
        "required": ["nation", "day_starts", "day_ends", "terms", "inset_days"],
        "properties": {
            "nation": nation,
            "day_starts": {"type": ["string", "null"], "description": "null: not set yet."},
            "day_ends": {"type": ["string", "null"]},
            "terms": {"type": "array", "items": term},
            "inset_days": {"type": "array", "items": day},
        },
    }
    days = {
        **stored,
        "required": [*stored["required"], "school_days", "bank_holidays"],
        "properties": {
            **stored["properties"],
            "school_days": {"type": "array", "items": day},
            "bank_holidays": {"type": "array", "items": day},
        },
    }
    imported = {
        **stored,
        "required": [*stored["required"], "skipped"],
        "properties": {
            **stored["properties"],
            "skipped": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Summaries of the holidays and half terms left out.",
            },
        },
    }
    school = {
        "name": "school_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    dates = [
        {"name": key, "in": "query", "required": False, "schema": day, "description": text}
        for key, text in (("from", "Default: today."), ("to", "Default: six weeks on."))
    ]
    admins: list[dict[str, list[str]]] = [{"adminToken": []}, {"session": []}]

    def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    body_statuses = (400, 401, 403, 404, 413, 415, 422)
    return {
        PATH: {
            "get": {
                "summary": "The school days of a range (at most 400 days), and the calendar: "
                "with no terms set, every weekday but the nation's bank holidays.",
                "security": admins,
                "parameters": [school, *dates],
                "responses": {"200": ok(days, "School days."), **problems(401, 403, 404, 422)},
            },
            "put": {
                "summary": "Set the school's calendar (audited).",
                "security": admins,
                "parameters": [school],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": setting}},
                },
                "responses": {"200": ok(stored, "The calendar now."), **problems(*body_statuses)},
            },
        },
        ICAL_PATH: {
            "post": {
                "summary": "Import term dates and INSET days from an iCalendar file (audited): "
                "a VEVENT whose SUMMARY says INSET is an INSET day, a holiday or half term is "
                "skipped, any other is a term. They replace the school's; nation and hours stay.",
                "security": admins,
                "parameters": [school],
                "requestBody": {
                    "required": True,
                    "content": {ICAL_TYPE: {"schema": {"type": "string"}}},
                },
                "responses": {"200": ok(imported, "The calendar now."), **problems(*body_statuses)},
            }
        },
    }
