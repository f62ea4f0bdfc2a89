"""Asking for an export, reading how far it has got, and downloading it: one use case for the
JSON API and the pages. The worker makes the file (services/worker/exports); nothing here
renders anything.

Who may export: elevated DSLs, deputy DSLs, SLT and the head of the school. An API key is
refused with 403 (exports leave the building, so a person must ask), anyone else is told the
pupil or export does not exist, and a privileged member of staff who has not elevated is asked
to (401 in the API, a redirect on the pages).

A chronology export is decided here, with the requester's own view of the pupil
(records.chronology, shared.access): the incidents it holds are the ones that view shows, in
the range and categories asked for (and the entries picked, if any). Their ids go into the
row's params; the worker renders exactly those. Requesting and downloading are audited.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.ingest.records import chronology
from shared import audit, fields
from shared.access import Viewer
from shared.database import Connection
from shared.domain import Role
from shared.problems import Forbidden, InvalidInput, NotFound, Problem, Unauthorized

EXPORTER_ROLES = frozenset({Role.DSL, Role.DEPUTY_DSL, Role.SLT, Role.HEAD})
REPORT_KINDS = ("governors", "ofsted")
FORMATS = ("pdf", "csv")
MAX_ENTRIES = 5000
LONDON = ZoneInfo("Europe/London")
STATEMENT_TIMEOUT = 10.0


class Gone(Problem):
    status = 410
    title = "Gone"


class NotReady(Problem):
    status = 409
    title = "Not ready"


@dataclass(frozen=True, slots=True)
class ChronologySpec:
    """A chronology export: `since`/`until` are inclusive days (UK time)."""

    format: str = "pdf"
    since: dt.date | None = None
    until: dt.date | None = None
    categories: tuple[str, ...] = ()
    entries: tuple[uuid.UUID, ...] | None = None  # the incidents picked; None: all of them
    staff_names: bool = True


@dataclass(frozen=True, slots=True)
class ReportSpec:
    kind: str
    format: str
    since: dt.date
    until: dt.date
    params: dict[str, Any] = field(default_factory=dict)


# -- Who may export ----------------------------------------------------------------------------


def may_export(viewer: Viewer) -> bool:
    return viewer.sees_whole_school and bool(viewer.roles & EXPORTER_ROLES)


def could_export(viewer: Viewer) -> bool:
    """Would be allowed once elevated."""
    return not viewer.is_api_key and bool(viewer.roles & EXPORTER_ROLES)


def check_exporter(viewer: Viewer, missing: str) -> None:
    """The API's answer for a viewer who may not export (`missing`: what is then not found)."""
    if viewer.is_api_key:
        raise Forbidden(
            "Exports need a staff session: an elevated DSL, deputy DSL, SLT or head signs in "
            "and asks for them. An API key cannot export."
        )
    if not could_export(viewer):
        raise NotFound(f"No such {missing}.")
    if not may_export(viewer):
        raise Unauthorized("Elevate access with your authenticator code to export.")


# A named SAR handler of the export's school may read a subject access export (not others).
_SAR_HANDLER_OF = """
SELECT 1 FROM exports e JOIN sar_handlers h ON h.school_id = e.school_id AND h.staff_id = $3
WHERE e.school_id = $1 AND e.id = $2 AND e.kind = 'sar'"""


async def check_reader(
    conn: Connection, viewer: Viewer, export_id: uuid.UUID, missing: str = "export"
) -> None:
    """Who may see an export and take its file: an exporter (check_exporter), or, for a
    subject access export, an elevated SAR handler the school named."""
    if not viewer.is_api_key and viewer.elevated and viewer.staff_id is not None:
        handler = await conn.fetchval(
            _SAR_HANDLER_OF,
            viewer.school_id,
            export_id,
            viewer.staff_id,
            timeout=STATEMENT_TIMEOUT,
        )
        if handler is not None:
            return
    check_exporter(viewer, missing)


# -- Parsing the API's bodies ------------------------------------------------------------------

_CHRONOLOGY_KEYS = frozenset({"kind", "format", "from", "to", "categories", "entries"})
_REPORT_KEYS = frozenset({"kind", "format", "from", "to"})


def parse_chronology(body: Any) -> ChronologySpec:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _CHRONOLOGY_KEYS | {"staff_names"}, "")
    if payload.get("kind", "chronology") != "chronology":
        raise InvalidInput("kind must be 'chronology'.", field="kind")
    since, until = _range(payload)
    entries = payload.get("entries")
    staff_names = payload.get("staff_names", True)
    if not isinstance(staff_names, bool):
        raise InvalidInput("staff_names must be true or false.", field="staff_names")
    return ChronologySpec(
        format=_format(payload),
        since=since,
        until=until,
        categories=tuple(_categories(payload.get("categories", []))),
        entries=None if entries is None else tuple(entry_ids(entries)),
        staff_names=staff_names,
    )


def parse_report(body: Any, today: dt.date) -> ReportSpec:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _REPORT_KEYS, "")
    kind = fields.required(payload, "kind")
    if kind not in REPORT_KINDS:
        raise InvalidInput("kind must be 'governors' or 'ofsted'.", field="kind")
    since, until = _range(payload)
    if kind == "ofsted":  # one click: the last twelve months unless told otherwise
        until = until or today
        since = since or until.replace(year=until.year - 1) + dt.timedelta(days=1)
    if since is None or until is None:
        raise InvalidInput("from and to are required (YYYY-MM-DD).", field="from")
    return ReportSpec(kind, _format(payload), since, until)


def _format(payload: Mapping[str, Any]) -> str:
    value = payload.get("format", "pdf")
    if value not in FORMATS:
        raise InvalidInput("format must be 'pdf' or 'csv'.", field="format")
    return str(value)


def _range(payload: Mapping[str, Any]) -> tuple[dt.date | None, dt.date | None]:
    since = None if payload.get("from") is None else fields.date(payload["from"], "from")
    until = None if payload.get("to") is None else fields.date(payload["to"], "to")
    if since and until and until < since:
        raise InvalidInput("to must be the same as or after from.", field="to")
    return since, until


def _categories(value: Any) -> list[str]:
    return fields.unique(fields.listing(value, "categories", _slug, max_items=100), "categories")


def _slug(value: Any, path: str) -> str:
    return fields.text(value, path, max_len=200)


def entry_ids(value: Any) -> list[uuid.UUID]:
    return fields.listing(value, "entries", _uuid, max_items=MAX_ENTRIES, min_items=1)


def _uuid(value: Any, path: str) -> uuid.UUID:
    try:
        return uuid.UUID(fields.text(value, path, max_len=36))
    except ValueError:
        raise InvalidInput(f"{path} must be an entry id.", field=path) from None


def start_of(day: dt.date | None, days: int = 0) -> dt.datetime | None:
    """Midnight in the school's time zone (UK), `days` later, in UTC."""
    if day is None:
        return None
    midnight = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(), LONDON)
    return midnight.astimezone(dt.UTC)


# -- Asking for one ----------------------------------------------------------------------------

_INSERT = """
INSERT INTO exports (school_id, requested_by, kind, pupil_id, params, format)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
RETURNING *"""


async def request_chronology(
    conn: Connection, viewer: Viewer, pupil: asyncpg.Record, spec: ChronologySpec, ip: str | None
) -> asyncpg.Record:
    """The export row (queued) of the pupil's chronology as `viewer` sees it. The caller owns
    the transaction; rings the worker after commit."""
    slugs = await _known_slugs(conn, viewer)
    unknown = [c for c in spec.categories if c not in slugs]
    if unknown:
        raise InvalidInput(f"Unknown category: {', '.join(unknown)}.", field="categories")
    filters = chronology.Filters(since=start_of(spec.since), before=start_of(spec.until, 1))
    found = await chronology.view_chronology(conn, viewer, pupil, filters, page=None, ip=ip)
    chosen = chosen_incidents(found.entries, spec.categories, spec.entries)
    params = {
        "from": spec.since and spec.since.isoformat(),
        "to": spec.until and spec.until.isoformat(),
        "categories": list(spec.categories),
        "picked": spec.entries is not None,
        "staff_names": spec.staff_names,
        "incidents": [str(i) for i in chosen],
    }
    row = await _insert(conn, viewer, "chronology", pupil["id"], params, spec.format)
    await _audit_request(conn, viewer, row, ip, pupil=pupil["external_id"], entries=len(chosen))
    return row


def chosen_incidents(
    entries: Iterable[asyncpg.Record],
    categories: Sequence[str],
    picked: Sequence[uuid.UUID] | None,
) -> list[uuid.UUID]:
    """The incidents (in the chronology's order) in the categories (a group matches its own
    categories) and, when entries were picked, among them. A picked id that is not one of the
    viewer's entries is refused, as an unknown one would be."""
    shown = [e for e in entries if e["kind"] == "incident" and _in(e["categories"], categories)]
    if picked is None:
        return [e["id"] for e in shown]
    ids = {e["id"] for e in shown}
    unknown = [str(p) for p in picked if p not in ids]
    if unknown:
        raise InvalidInput(
            "Pick entries of this chronology within the range and categories asked for.",
            field="entries",
            unknown=unknown,
        )
    wanted = set(picked)
    return [e["id"] for e in shown if e["id"] in wanted]


def _in(slugs: Iterable[str], categories: Sequence[str]) -> bool:
    if not categories:
        return True
    return any(s == c or s.startswith(c + "/") for s in slugs for c in categories)


async def _known_slugs(conn: Connection, viewer: Viewer) -> set[str]:
    groups = await chronology.filter_categories(conn, viewer)
    return {slug for _, options in groups for slug, _ in options}


async def request_report(
    conn: Connection, viewer: Viewer, spec: ReportSpec, ip: str | None
) -> asyncpg.Record:
    params = {"from": spec.since.isoformat(), "to": spec.until.isoformat(), **spec.params}
    row = await _insert(conn, viewer, spec.kind, None, params, spec.format)
    await _audit_request(conn, viewer, row, ip)
    return row


async def _insert(
    conn: Connection,
    viewer: Viewer,
    kind: str,
    pupil_id: uuid.UUID | None,
    params: dict[str, Any],
    format: str,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        _INSERT,
        viewer.school_id,
        viewer.staff_id,
        kind,
        pupil_id,
        json.dumps(params),
        format,
        timeout=STATEMENT_TIMEOUT,
    )
    if row is None:  # INSERT ... RETURNING always returns its row
        raise LookupError("the export was not recorded")
    return row


async def _audit_request(
    conn: Connection, viewer: Viewer, row: asyncpg.Record, ip: str | None, **extra: audit.JsonValue
) -> None:
    params = json.loads(row["params"])
    shown = {k: v for k, v in params.items() if k != "incidents"}
    detail: dict[str, audit.JsonValue] = {
        "kind": row["kind"],
        "format": row["format"],
        "params": shown,
        **extra,
    }
    if "incidents" in params:
        detail["incidents"] = params["incidents"]
    await _audit(conn, viewer, "export.request", row["id"], ip, detail)


async def _audit(
    conn: Connection,
    viewer: Viewer,
    action: str,
    export_id: uuid.UUID,
    ip: str | None,
    detail: dict[str, audit.JsonValue],
) -> None:
    await audit.append(
        conn,
        school_id=viewer.school_id,
        actor_staff_id=viewer.staff_id,
        action=action,
        subject_type="export",
        subject_id=export_id,
        ip=ip,
        detail=detail,
    )


# -- Reading and downloading -------------------------------------------------------------------

_FIND = """
SELECT e.id, e.kind, e.format, e.state, e.progress, e.error, e.filename, e.content_type,
       e.size_bytes, e.params, e.created_at, e.started_at, e.finished_at, e.expires_at,
       e.downloaded_at, e.expired_at, p.external_id AS pupil
FROM exports e LEFT JOIN pupils p ON p.id = e.pupil_id
WHERE e.school_id = $1 AND e.id = $2"""

_TAKE_FILE = """
UPDATE exports SET downloaded_at = coalesce(downloaded_at, now()),
                   download_count = download_count + 1
WHERE school_id = $1 AND id = $2 AND state = 'done'
RETURNING filename, content_type, data, stored_path, sha256, size_bytes"""


async def find_export(conn: Connection, viewer: Viewer, export_id: uuid.UUID) -> asyncpg.Record:
    """The export, for anyone who may export in its school (a SAR handler later, too)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        _FIND, viewer.school_id, export_id, timeout=STATEMENT_TIMEOUT
    )
    if row is None:
        raise NotFound("No such export.")
    return row


async def take_file(
    conn: Connection, viewer: Viewer, export_id: uuid.UUID, ip: str | None
) -> asyncpg.Record:
    """The file's row (data, or the stored path to read), counted and audited as downloaded.
    410 once expired, 409 while it is still being made."""
    found = await find_export(conn, viewer, export_id)
    if found["state"] == "expired":
        raise Gone("This export has expired and its file was deleted. Ask for a new one.")
    if found["state"] != "done":
        raise NotReady(f"This export is {found['state']}: there is no file yet.")
    row: asyncpg.Record | None = await conn.fetchrow(
        _TAKE_FILE, viewer.school_id, export_id, timeout=STATEMENT_TIMEOUT
    )
    if row is None:  # expired between the two statements
        raise Gone("This export has expired and its file was deleted. Ask for a new one.")
    detail: dict[str, audit.JsonValue] = {
        "kind": found["kind"],
        "filename": row["filename"],
        "sha256": bytes(row["sha256"]).hex(),
    }
    await _audit(conn, viewer, "export.download", export_id, ip, detail)
    return row


_RECENT = """
SELECT e.id, e.kind, e.format, e.state, e.progress, e.created_at, e.finished_at,
       p.external_id AS pupil, r.first_name || ' ' || r.last_name AS requested_by
FROM exports e JOIN staff r ON r.id = e.requested_by LEFT JOIN pupils p ON p.id = e.pupil_id
WHERE e.school_id = $1 ORDER BY e.created_at DESC, e.id LIMIT $2"""


async def recent_exports(conn: Connection, viewer: Viewer, limit: int = 20) -> list[asyncpg.Record]:
    """The school's newest exports, for whoever may export there."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _RECENT, viewer.school_id, limit, timeout=STATEMENT_TIMEOUT
    )
    return rows
