"""The register of subject access requests: recording one, its clock (extension, pause and
resume), the open ones by due date, and who may handle them. One use case for the JSON API
and the pages; the due date itself is records.sar_dates (pure).

Who: an elevated DSL, deputy DSL, SLT or head, or a member of staff the school names as a SAR
handler (`sar_handlers`), elevated too. An API key is refused with 403 (a person answers a
SAR), anyone else is told the request does not exist. Every change is audited (`sar.*`, the
SAR as subject) in the caller's transaction, and each writes the due date as it now stands.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.ingest.records import sar_dates
from services.ingest.records.exports import EXPORTER_ROLES, LONDON
from shared import audit, fields
from shared.access import Viewer
from shared.database import Connection
from shared.problems import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized

STATEMENT_TIMEOUT = 10.0
MAX_REASON = 1000
# A date typed for a request announced ahead is allowed; one a year out is a typing error.
LATEST_DAYS_AHEAD = 366


class Missing(NotFound):
    """No such SAR, or none the viewer may handle (the same answer)."""

    def __init__(self) -> None:
        super().__init__("No such subject access request.")


@dataclass(frozen=True, slots=True)
class NewSar:
    pupil: str  # the school's pupil id
    requester: str
    relationship: str
    received_on: dt.date


def today() -> dt.date:
    return dt.datetime.now(LONDON).date()


# -- Who may handle them -----------------------------------------------------------------------

_IS_HANDLER = "SELECT true FROM sar_handlers WHERE school_id = $1 AND staff_id = $2"


async def could_handle(conn: Connection, viewer: Viewer) -> bool:
    """May once elevated: a DSL/SLT role, or named by the school."""
    if viewer.is_api_key:
        return False
    if viewer.roles & EXPORTER_ROLES:
        return True
    named = await conn.fetchval(
        _IS_HANDLER, viewer.school_id, viewer.staff_id, timeout=STATEMENT_TIMEOUT
    )
    return bool(named)


async def check_handler(conn: Connection, viewer: Viewer) -> None:
    """The API's answer for a viewer who may not handle SARs."""
    if viewer.is_api_key:
        raise Forbidden(
            "Subject access requests need a staff session: an elevated DSL, SLT or SAR "
            "handler. An API key cannot read or answer them."
        )
    if not await could_handle(conn, viewer):
        raise Missing()
    if not viewer.elevated:
        raise Unauthorized("Elevate access with your authenticator code to handle SARs.")


# -- Parsing -----------------------------------------------------------------------------------

_NEW_KEYS = frozenset({"pupil", "requester", "received_on", "relationship"})


def parse_new(body: Any, on: dt.date) -> NewSar:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _NEW_KEYS, "")
    received = fields.date(fields.required(payload, "received_on"), "received_on")
    if received > on + dt.timedelta(days=LATEST_DAYS_AHEAD):
        raise InvalidInput("received_on is too far in the future.", field="received_on")
    return NewSar(
        pupil=fields.text(fields.required(payload, "pupil"), "pupil", max_len=64),
        requester=fields.text(fields.required(payload, "requester"), "requester", max_len=200),
        relationship=fields.text(
            fields.required(payload, "relationship"), "relationship", max_len=100
        ),
        received_on=received,
    )


def parse_reason(payload: Mapping[str, Any], required: bool = True) -> str | None:
    if not required and payload.get("reason") is None:
        return None
    return fields.text(fields.required(payload, "reason"), "reason", max_len=MAX_REASON)


def parse_months(payload: Mapping[str, Any]) -> int:
    months = fields.required(payload, "months")
    if isinstance(months, bool) or months not in (1, 2):
        raise InvalidInput("months must be 1 or 2.", field="months")
    return int(months)


# -- Recording and reading ---------------------------------------------------------------------

_COLUMNS = """s.id, s.school_id, s.pupil_id, s.requester, s.relationship, s.received_on,
  s.state, s.extension_months, s.extension_reason, s.paused_days, s.paused_on, s.pause_reason,
  s.due_on, s.created_at, p.external_id AS pupil, p.first_name, p.last_name"""

_INSERT = """
INSERT INTO sars (school_id, pupil_id, requester, relationship, received_on, recorded_by, due_on)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"""

_ONE = f"""SELECT {_COLUMNS} FROM sars s JOIN pupils p ON p.id = s.pupil_id
WHERE s.school_id = $1 AND s.id = $2"""  # noqa: S608 (constant text)

_LOCK = f"""SELECT {_COLUMNS} FROM sars s JOIN pupils p ON p.id = s.pupil_id
WHERE s.school_id = $1 AND s.id = $2 FOR UPDATE OF s"""  # noqa: S608 (constant text)

_OPEN = f"""SELECT {_COLUMNS} FROM sars s JOIN pupils p ON p.id = s.pupil_id
WHERE s.school_id = $1 ORDER BY s.due_on, s.created_at, s.id"""  # noqa: S608 (constant text)

_PUPIL = "SELECT id FROM pupils WHERE school_id = $1 AND external_id = $2"


async def record_sar(
    conn: Connection, viewer: Viewer, new: NewSar, ip: str | None
) -> asyncpg.Record:
    pupil_id = await conn.fetchval(_PUPIL, viewer.school_id, new.pupil, timeout=STATEMENT_TIMEOUT)
    if pupil_id is None:
        raise InvalidInput("No such pupil in this school.", field="pupil")
    due = sar_dates.due_on(new.received_on)
    sar_id = await conn.fetchval(
        _INSERT,
        viewer.school_id,
        pupil_id,
        new.requester,
        new.relationship,
        new.received_on,
        viewer.staff_id,
        due,
        timeout=STATEMENT_TIMEOUT,
    )
    detail: dict[str, audit.JsonValue] = {
        "pupil": new.pupil,
        "relationship": new.relationship,
        "due_on": due.isoformat(),
    }
    await audit_sar(conn, viewer, "sar.record", sar_id, ip, detail)
    return await find_sar(conn, viewer, sar_id)


async def find_sar(conn: Connection, viewer: Viewer, sar_id: uuid.UUID) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        _ONE, viewer.school_id, sar_id, timeout=STATEMENT_TIMEOUT
    )
    if row is None:
        raise Missing()
    return row


async def open_sars(conn: Connection, viewer: Viewer) -> list[asyncpg.Record]:
    """Every open request (the clock running or stopped), soonest due first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _OPEN, viewer.school_id, timeout=STATEMENT_TIMEOUT
    )
    return rows


# -- The clock ---------------------------------------------------------------------------------

# A new due date asks for its reminders afresh.
_SET_CLOCK = """
UPDATE sars SET state = $3, extension_months = $4, extension_reason = $5, paused_days = $6,
                paused_on = $7, pause_reason = $8, due_on = $9,
                reminded_week_at = CASE WHEN due_on = $9 THEN reminded_week_at END,
                reminded_due_at = CASE WHEN due_on = $9 THEN reminded_due_at END
WHERE school_id = $1 AND id = $2"""


async def extend(
    conn: Connection, viewer: Viewer, sar_id: uuid.UUID, months: int, reason: str, ip: str | None
) -> asyncpg.Record:
    """Extend to `months` beyond the first (1 or 2 in all, never shortened)."""
    sar = await _locked(conn, viewer, sar_id)
    if months < sar["extension_months"]:
        raise Conflict(
            f"This request is already extended by {sar['extension_months']} months; an "
            "extension cannot be shortened.",
            field="months",
        )
    due = sar_dates.due_on(sar["received_on"], months, sar["paused_days"])
    await _set(conn, sar, extension_months=months, extension_reason=reason, due_on=due)
    detail: dict[str, audit.JsonValue] = {
        "months": months,
        "reason": reason,
        "due_on": due.isoformat(),
    }
    await audit_sar(conn, viewer, "sar.extend", sar_id, ip, detail)
    return await find_sar(conn, viewer, sar_id)


async def pause(
    conn: Connection, viewer: Viewer, sar_id: uuid.UUID, reason: str, on: dt.date, ip: str | None
) -> asyncpg.Record:
    sar = await _locked(conn, viewer, sar_id)
    if sar["state"] == "paused":
        raise Conflict("The clock is already stopped on this request.")
    await _set(conn, sar, state="paused", paused_on=on, pause_reason=reason)
    await audit_sar(conn, viewer, "sar.pause", sar_id, ip, {"reason": reason, "on": on.isoformat()})
    return await find_sar(conn, viewer, sar_id)


async def resume(
    conn: Connection, viewer: Viewer, sar_id: uuid.UUID, on: dt.date, ip: str | None
) -> asyncpg.Record:
    """The clock runs again; the due date moves on by the days it stood still."""
    sar = await _locked(conn, viewer, sar_id)
    if sar["state"] != "paused":
        raise Conflict("The clock is not stopped on this request.")
    days = sar_dates.paused_for(sar["paused_on"], on)
    total = sar["paused_days"] + days
    due = sar_dates.due_on(sar["received_on"], sar["extension_months"], total)
    await _set(
        conn, sar, state="open", paused_on=None, pause_reason=None, paused_days=total, due_on=due
    )
    detail: dict[str, audit.JsonValue] = {
        "paused_days": days,
        "due_on": due.isoformat(),
        "on": on.isoformat(),
    }
    await audit_sar(conn, viewer, "sar.resume", sar_id, ip, detail)
    return await find_sar(conn, viewer, sar_id)


async def _locked(conn: Connection, viewer: Viewer, sar_id: uuid.UUID) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        _LOCK, viewer.school_id, sar_id, timeout=STATEMENT_TIMEOUT
    )
    if row is None:
        raise Missing()
    return row


async def _set(conn: Connection, sar: asyncpg.Record, **changes: Any) -> None:
    now = {k: sar[k] for k in _CLOCK} | changes
    await conn.execute(
        _SET_CLOCK, sar["school_id"], sar["id"], *(now[k] for k in _CLOCK), timeout=10.0
    )


_CLOCK = (
    "state",
    "extension_months",
    "extension_reason",
    "paused_days",
    "paused_on",
    "pause_reason",
    "due_on",
)


async def audit_sar(
    conn: Connection,
    viewer: Viewer,
    action: str,
    sar_id: uuid.UUID,
    ip: str | None,
    detail: dict[str, audit.JsonValue],
) -> None:
    await audit.append(
        conn,
        school_id=viewer.school_id,
        actor_staff_id=viewer.staff_id,
        action=action,
        subject_type="sar",
        subject_id=sar_id,
        ip=ip,
        detail=detail,
    )


def describe(row: asyncpg.Record) -> dict[str, Any]:
    """The SAR as the API shows it (no pupil name: the pupil's id)."""
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "pupil": row["pupil"],
        "requester": row["requester"],
        "relationship": row["relationship"],
        "received_on": row["received_on"].isoformat(),
        "due_on": row["due_on"].isoformat(),
        "state": row["state"],
        "extension_months": row["extension_months"],
        "paused_days": row["paused_days"],
        "created_at": row["created_at"].isoformat(),
    }
    if row["extension_reason"]:
        body["extension_reason"] = row["extension_reason"]
    if row["paused_on"]:
        body["paused_on"] = row["paused_on"].isoformat()
        body["pause_reason"] = row["pause_reason"]
    return body
