"""Who a school names to handle subject access requests, and whether a SAR's export shows
staff by name: school settings, changed by its administrators (shared.auth.administrators).

    PUT /v1/schools/{id}/sar-handlers {"staff": ["S04", ...], "redact_staff"?: true}

The list replaces the last one. Handlers still elevate to handle a SAR (records.sars).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared import fields
from shared.database import Connection
from shared.problems import InvalidInput, NotFound

MAX_HANDLERS = 50
_KEYS = frozenset({"staff", "redact_staff"})


@dataclass(frozen=True, slots=True)
class Handlers:
    staff: tuple[str, ...]  # the school's staff ids, sorted
    redact_staff: bool

    def body(self) -> dict[str, Any]:
        return {"staff": list(self.staff), "redact_staff": self.redact_staff}


def parse(body: Any) -> tuple[list[str], bool | None]:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _KEYS, "")
    staff = fields.listing(
        fields.required(payload, "staff"),
        "staff",
        lambda v, p: fields.text(v, p, max_len=64),
        max_items=MAX_HANDLERS,
    )
    redact = payload.get("redact_staff")
    if redact is not None and not isinstance(redact, bool):
        raise InvalidInput("redact_staff must be true or false.", field="redact_staff")
    return fields.unique(staff, "staff"), redact


_READ = """
SELECT s.sar_redact_staff,
       ARRAY(SELECT st.external_id FROM sar_handlers h JOIN staff st ON st.id = h.staff_id
             WHERE h.school_id = s.id ORDER BY st.external_id) AS staff
FROM schools s WHERE s.id = $1"""

_STAFF = """SELECT external_id, id FROM staff
WHERE school_id = $1 AND active AND external_id = ANY($2::text[])"""


async def read(conn: Connection, school_id: uuid.UUID) -> Handlers:
    row = await conn.fetchrow(_READ, school_id)
    if row is None:
        raise NotFound("No such school.")
    return Handlers(tuple(row["staff"]), row["sar_redact_staff"])


async def replace(
    conn: Connection, school_id: uuid.UUID, staff: list[str], redact_staff: bool | None
) -> Handlers:
    """In the caller's transaction (with its audit entry)."""
    found = {r["external_id"]: r["id"] for r in await conn.fetch(_STAFF, school_id, staff)}
    unknown = [s for s in staff if s not in found]
    if unknown:
        raise InvalidInput("No such active staff member.", field="staff", unknown=unknown)
    await conn.execute("DELETE FROM sar_handlers WHERE school_id = $1", school_id)
    await conn.executemany(
        "INSERT INTO sar_handlers (school_id, staff_id) VALUES ($1, $2)",
        [(school_id, found[s]) for s in staff],
    )
    if redact_staff is not None:
        await conn.execute(
            "UPDATE schools SET sar_redact_staff = $2 WHERE id = $1", school_id, redact_staff
        )
    return await read(conn, school_id)
