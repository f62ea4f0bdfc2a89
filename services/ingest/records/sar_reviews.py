"""Reviewing a subject access request's export: the review draft, the handler's decisions on
each third party it found, and the final PDF.

The worker's draft (services/worker/exports/sar.py) writes down every third party it found
(`sar_parties`: other pupils as "Pupil A"..., staff as "Staff member 1"...), redacted or not
by default. The handler reveals or redacts each one with a reason (`sar_decisions`, newest
wins, each one audited); the final applies the defaults and every decision, and may only be
asked for once a draft was made.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.ingest.records.sars import STATEMENT_TIMEOUT, audit_sar
from shared import audit, fields
from shared.access import Viewer
from shared.database import Connection
from shared.problems import Conflict, InvalidInput, NotFound

STAGES = ("draft", "final")
DECISIONS = ("reveal", "redact")
KINDS = ("pupil", "staff")


def parse_stage(body: Any) -> str:
    payload = fields.obj(body, "")
    fields.only_keys(payload, frozenset({"stage"}), "")
    stage = fields.required(payload, "stage")
    if stage not in STAGES:
        raise InvalidInput("stage must be 'draft' or 'final'.", field="stage")
    return str(stage)


def parse_decision(body: Any) -> tuple[str, str, str, str]:
    """(kind, the school's id of the person, decision, reason)."""
    payload = fields.obj(body, "")
    fields.only_keys(payload, frozenset({"kind", "id", "decision", "reason"}), "")
    kind = fields.required(payload, "kind")
    if kind not in KINDS:
        raise InvalidInput("kind must be 'pupil' or 'staff'.", field="kind")
    decision = fields.required(payload, "decision")
    if decision not in DECISIONS:
        raise InvalidInput("decision must be 'reveal' or 'redact'.", field="decision")
    person = fields.text(fields.required(payload, "id"), "id", max_len=64)
    reason = fields.text(fields.required(payload, "reason"), "reason", max_len=1000)
    return str(kind), person, str(decision), reason


# -- Exports -----------------------------------------------------------------------------------

_INSERT = """
INSERT INTO exports (school_id, requested_by, kind, pupil_id, params, format)
VALUES ($1, $2, 'sar', $3, $4::jsonb, 'pdf') RETURNING *"""

_EXPORTS = """
SELECT id, kind, format, state, progress, params ->> 'stage' AS stage, created_at,
       finished_at, expires_at, expired_at, filename, size_bytes, error
FROM exports WHERE school_id = $1 AND kind = 'sar' AND params ->> 'sar' = $2
ORDER BY created_at DESC, id"""

_DRAFTED = """
SELECT true FROM exports
WHERE school_id = $1 AND kind = 'sar' AND params ->> 'sar' = $2
  AND params ->> 'stage' = 'draft' AND state IN ('done', 'expired')
LIMIT 1"""


async def request_export(
    conn: Connection, viewer: Viewer, sar: asyncpg.Record, stage: str, ip: str | None
) -> asyncpg.Record:
    """The export row (queued); the caller rings the worker after commit."""
    if stage == "final" and not await conn.fetchval(_DRAFTED, viewer.school_id, str(sar["id"])):
        raise Conflict(
            "Make the review draft and review its redactions first: the final is made only "
            "after a draft.",
            field="stage",
        )
    params = json.dumps({"sar": str(sar["id"]), "stage": stage})
    row: asyncpg.Record | None = await conn.fetchrow(
        _INSERT,
        viewer.school_id,
        viewer.staff_id,
        sar["pupil_id"],
        params,
        timeout=STATEMENT_TIMEOUT,
    )
    if row is None:  # INSERT ... RETURNING always returns its row
        raise LookupError("the export was not recorded")
    detail: dict[str, audit.JsonValue] = {
        "kind": "sar",
        "format": "pdf",
        "params": {"sar": str(sar["id"]), "stage": stage},
        "pupil": sar["pupil"],
    }
    await audit.append(
        conn,
        school_id=viewer.school_id,
        actor_staff_id=viewer.staff_id,
        action="export.request",
        subject_type="export",
        subject_id=row["id"],
        ip=ip,
        detail=detail,
    )
    return row


async def sar_exports(conn: Connection, viewer: Viewer, sar_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _EXPORTS, viewer.school_id, str(sar_id), timeout=STATEMENT_TIMEOUT
    )
    return rows


# -- Third parties and decisions ---------------------------------------------------------------

# Each party with who they are and the decision in force (the newest), if any.
_PARTIES = """
SELECT sp.party_kind, sp.party_id, sp.label, sp.redacted_by_default, sp.found,
       coalesce(p.external_id, st.external_id) AS external_id,
       coalesce(p.first_name || ' ' || p.last_name, st.first_name || ' ' || st.last_name) AS name,
       d.decision, d.reason, d.decided_at, ds.first_name || ' ' || ds.last_name AS decided_by
FROM sar_parties sp
LEFT JOIN pupils p ON sp.party_kind = 'pupil' AND p.id = sp.party_id
LEFT JOIN staff st ON sp.party_kind = 'staff' AND st.id = sp.party_id
LEFT JOIN LATERAL (
  SELECT decision, reason, decided_at, decided_by FROM sar_decisions x
  WHERE x.sar_id = sp.sar_id AND x.party_kind = sp.party_kind AND x.party_id = sp.party_id
  ORDER BY x.id DESC LIMIT 1) d ON true
LEFT JOIN staff ds ON ds.id = d.decided_by
WHERE sp.sar_id = $1
ORDER BY sp.party_kind, length(sp.label), sp.label"""

_PARTY = """
SELECT sp.party_id FROM sar_parties sp
LEFT JOIN pupils p ON sp.party_kind = 'pupil' AND p.id = sp.party_id
LEFT JOIN staff st ON sp.party_kind = 'staff' AND st.id = sp.party_id
WHERE sp.sar_id = $1 AND sp.party_kind = $2 AND coalesce(p.external_id, st.external_id) = $3"""

_DECIDE = """
INSERT INTO sar_decisions (school_id, sar_id, party_kind, party_id, decision, reason, decided_by)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"""


async def parties(conn: Connection, sar_id: uuid.UUID) -> list[dict[str, Any]]:
    """The third parties the drafts found, each with `redacted` as the final would apply."""
    rows = await conn.fetch(_PARTIES, sar_id, timeout=STATEMENT_TIMEOUT)
    return [
        {
            **dict(r),
            "redacted": r["redacted_by_default"]
            if r["decision"] is None
            else r["decision"] == "redact",
        }
        for r in rows
    ]


async def decide(
    conn: Connection,
    viewer: Viewer,
    sar: asyncpg.Record,
    decision: tuple[str, str, str, str],
    ip: str | None,
) -> None:
    """Record and audit one decision on a party the draft found (404 for anyone else)."""
    kind, person, verdict, reason = decision
    party_id = await conn.fetchval(_PARTY, sar["id"], kind, person, timeout=STATEMENT_TIMEOUT)
    if party_id is None:
        raise NotFound(f"The review draft found no {kind} {person}.", field="id")
    await conn.fetchval(
        _DECIDE,
        viewer.school_id,
        sar["id"],
        kind,
        party_id,
        verdict,
        reason,
        viewer.staff_id,
        timeout=STATEMENT_TIMEOUT,
    )
    detail: dict[str, audit.JsonValue] = {
        "kind": kind,
        "id": person,
        "decision": verdict,
        "reason": reason,
    }
    await audit_sar(conn, viewer, "sar.decision", sar["id"], ip, detail)
