"""Moving an incident into a restricted category (Safeguarding, SLT): an appended action that
says so and a row in incident_category_moves, in one transaction. Nothing recorded is changed
but the incident's `restricted` flag, which only ever goes from false to true (a trigger
allows nothing else), so every reader treats it as restricted from then on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.ingest.records.actions import record_action
from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.records.inputs import ActionInput
from shared.database import Connection

_RESTRICTED_CATEGORY = """
SELECT c.slug, coalesce(g.name || ': ', '') || c.name AS label
FROM categories c LEFT JOIN categories g ON g.school_id = c.school_id AND g.slug = c.parent_slug
WHERE c.school_id = $1 AND c.slug = $2 AND c.restricted"""

# The one change an incident allows (a trigger enforces it): restricted, false to true.
_RESTRICT = """
UPDATE incidents SET restricted = true WHERE school_id = $1 AND id = $2 AND NOT restricted"""

_MOVE = """
INSERT INTO incident_category_moves (school_id, incident_id, category_slug, action_id, moved_by)
VALUES ($1, $2, $3, $4, $5)"""


@dataclass(frozen=True, slots=True)
class Move:
    category: str  # the category's label, "Safeguarding: CP plan"
    action: asyncpg.Record  # record_action's verdict row


async def move_into_restricted(
    conn: Connection,
    school_id: uuid.UUID,
    incident_id: uuid.UUID,
    mover: str,
    category_slug: str,
    key: str | None = None,
) -> Move | None:
    """None when the category is not a restricted one of this school. The caller checks that
    the mover may (DSL, SLT, pastoral, elevated) and owns the audit entry."""
    category = await conn.fetchrow(
        _RESTRICTED_CATEGORY, school_id, category_slug, timeout=STATEMENT_TIMEOUT
    )
    if category is None:
        return None
    data = ActionInput(author=mover, description=f"Moved into {category['label']}", alert_staff=[])
    async with conn.transaction():
        # First, so the action's own alerts already go to the restricted audience, urgently.
        await conn.execute(_RESTRICT, school_id, incident_id, timeout=STATEMENT_TIMEOUT)
        row = await record_action(conn, school_id, None, incident_id, data, key, None)
        if row["action_id"] is not None:
            await conn.execute(
                _MOVE,
                school_id,
                incident_id,
                category["slug"],
                row["action_id"],
                row["author_id"],
                timeout=STATEMENT_TIMEOUT,
            )
    return Move(category["label"], row)
