"""Attack: read a restricted incident's nature from the alert email. A DSL's phone shows the
subject on the lock screen; "Operation Encompass" there tells anyone nearby that the police
reported domestic abuse at the pupil's home. Restricted incidents name only their group
("Safeguarding", "SLT") in subjects and bodies; ordinary ones keep their categories."""

from __future__ import annotations

import asyncpg

from services.notifier import claims
from tests.support import world


async def _claimed_text(pg: asyncpg.Pool, categories: list[str], author: str) -> list[str]:
    async with pg.acquire() as conn:
        school = await world.seed_school(conn)
        recorded = await world.record_incident(conn, school, author, "P0001", categories)
        await world.resolve_alerts(conn, recorded.event)
        mails = await claims.claim_due(conn, 100, 30)
    return [mail.categories for mail, _ in mails]


async def test_a_restricted_incident_names_only_its_group(pg: asyncpg.Pool) -> None:
    shown = await _claimed_text(
        pg, ["safeguarding/operation-encompass", "cause-for-concern/injury-bruise"], "S04"
    )
    assert shown, "nobody was alerted"
    for text in shown:
        assert "Operation Encompass" not in text and "Injury" not in text
        assert text == "Cause for concern, Safeguarding"


async def test_an_ordinary_incident_keeps_its_categories(pg: asyncpg.Pool) -> None:
    shown = await _claimed_text(pg, ["cause-for-concern/injury-bruise"], "S06")
    assert shown and all(text == "Cause for concern / Injury/Bruise" for text in shown)
