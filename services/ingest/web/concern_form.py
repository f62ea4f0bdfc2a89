"""The Record a concern form: its defaults, what was typed, the checks a page can make at once
for every field, the use case's input built from it, and the use case's field names mapped
back to the form's fields."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDict

from services.ingest.records import incident_views as views
from services.ingest.records.files import Upload
from services.ingest.records.inputs import MAX_MARKS
from services.ingest.records.sniffing import sniff
from services.ingest.web import guard
from services.ingest.web.uploads import Posted
from shared import access
from shared.access import Viewer
from shared.auth.sessions import Session
from shared.database import Connection
from shared.domain import PRIVILEGED_ROLES, Role
from shared.problems import Forbidden, Problem, UnsupportedMediaType

LONDON = ZoneInfo("Europe/London")
MARK_ROWS = 3
# Who records paper reports for others, and who sees who was alerted (besides the author).
ON_BEHALF_ROLES = frozenset({Role.DSL, Role.DEPUTY_DSL})
ALERT_READERS = frozenset({Role.DSL, Role.DEPUTY_DSL, Role.SLT, Role.HEAD})
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_MARK = re.compile(r"^body_map\[(\d+)\](?:\.(view|region|note))?")


@dataclass(frozen=True, slots=True)
class Me:
    viewer: Viewer

    @property
    def ref(self) -> str:
        """The staff id as the school's MIS names it."""
        assert self.viewer.ref is not None  # a member of staff's viewer always has one
        return self.viewer.ref

    @property
    def privileged(self) -> bool:
        return bool(self.viewer.roles & PRIVILEGED_ROLES)


def me_of(request: web.Request) -> Me:
    return Me(guard.viewer(request))


def recorder(request: web.Request) -> Me:
    me = me_of(request)
    if not access.can_add_incident(me.viewer, me.viewer.school_id):
        raise Forbidden("Only teaching, pastoral and leadership staff record concerns.")
    return me


def key(raw: str | None) -> str:
    """The form's idempotency key: a uuid we rendered, else a fresh one."""
    try:
        return str(uuid.UUID(raw or ""))
    except ValueError:
        return str(uuid.uuid4())


def defaults(pupil: str, query: str) -> dict[str, Any]:
    now = dt.datetime.now(LONDON)
    return {
        "idempotency_key": str(uuid.uuid4()),
        "q": query.strip()[:100],
        "pupil": pupil.strip()[:100],
        "day": str(now.day),
        "month": str(now.month),
        "year": str(now.year),
        "time": f"{now:%H:%M}",
        "description": "",
        "categories": [],
        "linked_pupils": "",
        "agencies": "",
        "marks": [_empty_mark() for _ in range(MARK_ROWS)],
        "alert_staff": [],
        "on_behalf_of": "",
    }


def _empty_mark() -> dict[str, str]:
    return {"region": "", "view": "front", "note": ""}


def values_of(form: MultiDict[str]) -> dict[str, Any]:
    def one(name: str, limit: int = 200) -> str:
        return form.get(name, "").strip()[:limit]

    marks = []
    for n in range(1, MAX_MARKS + 1):
        region, note = one(f"mark-{n}-region", 100), one(f"mark-{n}-note", 2000)
        view = one(f"mark-{n}-view", 10) or "front"
        if region or note:
            marks.append({"region": region, "view": view, "note": note})
    shown = marks + [_empty_mark() for _ in range(max(MARK_ROWS - len(marks), 1))]
    return {
        "idempotency_key": key(form.get("idempotency_key")),
        "q": "",
        "pupil": one("pupil", 100),
        "day": one("occurred_at-day", 4),
        "month": one("occurred_at-month", 4),
        "year": one("occurred_at-year", 6),
        "time": one("occurred_at-time", 8),
        "description": form.get("description", "").strip()[:40_000],
        "categories": form.getall("categories", [])[:100],
        "linked_pupils": one("linked_pupils", 2000),
        "agencies": form.get("agencies", "").strip()[:10_000],
        "marks": shown[:MAX_MARKS],
        "alert_staff": form.getall("alert_staff", [])[:200],
        "on_behalf_of": one("on_behalf_of"),
    }


def check(
    values: dict[str, Any], posted: Posted, now: dt.datetime
) -> tuple[dict[str, str], dt.datetime | None]:
    """What the page can tell at once, for every field together (the use case then names the
    first of what only the database knows)."""
    errors: dict[str, str] = {}
    if not values["pupil"]:
        errors["pupil"] = "Select the pupil"
    occurred, problem = _occurred(values, now)
    if problem:
        errors["occurred_at"] = problem
    if not values["description"]:
        errors["description"] = "Enter what happened"
    if not values["categories"]:
        errors["categories"] = "Select at least one category"
    for n, mark in enumerate(values["marks"], start=1):
        if mark["note"] and not mark["region"]:
            errors[f"mark-{n}-region"] = f"Select where on the body mark {n} is"
    file_error = posted.file_error or unsupported(posted.uploads)
    if file_error:
        errors["files"] = file_error
    return errors, occurred


def _occurred(values: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime | None, str]:
    parts = (values["day"], values["month"], values["year"])
    if not any(parts) and not values["time"]:
        return None, "Enter when it happened"
    time = _TIME.match(values["time"])
    if not all(p.isdigit() for p in parts) or time is None:
        return None, "When did it happen must be a real date and time, like 27 11 2024 and 10:15"
    try:
        local = dt.datetime(
            int(values["year"]),
            int(values["month"]),
            int(values["day"]),
            int(time[1]),
            int(time[2]),
            tzinfo=LONDON,
        )
    except ValueError:
        return None, "When did it happen must be a real date and time"
    if local > now:
        return None, "When did it happen must be in the past"
    if local.year < 2000:
        return None, "When did it happen must be after 2000"
    return local.astimezone(dt.UTC), ""


def unsupported(uploads: list[Upload]) -> str:
    for upload in uploads:
        try:
            sniff(upload.data)
        except UnsupportedMediaType as p:
            return f"{upload.filename}: {p.detail}"
    return ""


def body_of(
    values: dict[str, Any], me: Me, occurred: dt.datetime | None
) -> tuple[dict[str, Any], list[int]]:
    """The API's incident body from the form; and which mark row each body_map entry is."""
    description = values["description"]
    if values["on_behalf_of"] and me.viewer.roles & ON_BEHALF_ROLES:
        description = f"Recorded on behalf of: {values['on_behalf_of']}\n\n{description}"
    rows = [n for n, m in enumerate(values["marks"], start=1) if m["region"]]
    marks = [values["marks"][n - 1] for n in rows]
    assert occurred is not None  # noqa: S101 (_check refused the form otherwise)
    body = {
        "_key": values["idempotency_key"],
        "author": me.ref,
        "pupil": values["pupil"],
        "occurred_at": occurred.isoformat(),
        "description": description,
        "categories": values["categories"],
        "linked_pupils": [p for p in re.split(r"[\s,;]+", values["linked_pupils"]) if p],
        "agencies": [a.strip() for a in values["agencies"].splitlines() if a.strip()],
        "body_map": [{"view": m["view"], "region": m["region"], "note": m["note"]} for m in marks],
        "alert_staff": values["alert_staff"],
    }
    return body, rows


def field_id(path: str | None, mark_rows: list[int]) -> str:
    """The form field for the use case's field name ("linked_pupils[0]", "body_map[1].note")."""
    path = path or ""
    mark = _MARK.match(path)
    if mark:
        n = int(mark[1])
        row = mark_rows[n] if n < len(mark_rows) else 1
        return f"mark-{row}-{mark[2] or 'region'}"
    head = re.split(r"[\[.]", path, maxsplit=1)[0]
    known = {"pupil", "occurred_at", "description", "categories", "linked_pupils", "agencies"}
    if head in known or head == "alert_staff":
        return head
    return "description"


_MESSAGES = {
    "occurred_at": "When did it happen must be in the past",
    "description": "What happened is too long: write at most 20,000 characters",
}


def message(p: Problem) -> str:
    head = re.split(r"[\[.]", p.field or "", maxsplit=1)[0]
    if head == "occurred_at" and "future" not in p.detail:
        return "When did it happen must be a real date and time"
    if head == "description" and p.detail.endswith("is required."):
        return "Enter what happened"
    return _MESSAGES.get(head, p.detail) if head in _MESSAGES else p.detail.rstrip(".")


async def form_context(
    conn: Connection, s: Session, me: Me, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    pupils = await views.find_pupils(conn, s.school_id, values["q"])
    if values["pupil"] and all(p["external_id"] != values["pupil"] for p in pupils):
        chosen = await views.find_pupil(conn, s.school_id, values["pupil"])
        pupils = ([chosen] if chosen else []) + list(pupils)
    groups = [
        g
        for g in await views.category_groups(conn, s.school_id)
        if me.privileged or not g.restricted
    ]
    boxes, first = [], True
    for g in groups:
        shown = [c for c in g.categories if me.privileged or not c.restricted]
        if shown:
            ids = []
            for n, c in enumerate(shown):
                ids.append((c, "categories" if first and n == 0 else f"category-{c.slug}"))
            first = False
            boxes.append((g, ids))
    staff = [r for r in await views.active_staff(conn, s.school_id) if r["id"] != s.staff_id]
    return {
        "values": values,
        "pupils": pupils,
        "category_groups": boxes,
        "staff": staff,
        "on_behalf": bool(me.viewer.roles & ON_BEHALF_ROLES),
        "errors": errors,
        "error_list": list(errors.items()),
    }
