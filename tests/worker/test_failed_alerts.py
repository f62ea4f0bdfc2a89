"""A failed safeguarding alert is not left there: the next step of escalation is raised at once
(deputy DSLs, then the head), once, and only for restricted incidents."""

import asyncio

from services.worker.escalation import escalation_pass, reraise_failed_once
from shared import queue
from tests.support.world import alerted, record_incident

HOUR = 3600.0


async def resolved_incident(pg, school, drain, redis, categories):
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S03", "P0001", categories)
    await queue.enqueue_resolve(redis, recorded.event)
    await drain()
    return recorded


async def fail(pg, event, staff):
    """What the notifier records when it gives up on one recipient's email."""
    await pg.execute(
        """UPDATE alerts SET state = 'failed', failed_at = now(), error = '550 no such user'
           WHERE event_id = $1 AND recipient_id IN
                 (SELECT id FROM staff WHERE external_id = $2)""",
        event,
        staff,
    )


async def escalations(pg, incident):
    rows = await pg.fetch(
        "SELECT id, level FROM alert_events WHERE incident_id = $1 AND kind = 'escalation' "
        "ORDER BY level",
        incident,
    )
    return [(r["level"], r["id"]) for r in rows]


async def test_a_failed_restricted_alert_goes_to_the_deputies_at_once(pg, redis, school, drain):
    recorded = await resolved_incident(pg, school, drain, redis, ["safeguarding/cla"])
    assert await reraise_failed_once(pg, redis) == []  # nothing failed yet
    await fail(pg, recorded.event, "S04")
    [first] = await reraise_failed_once(pg, redis, HOUR)  # no waiting for the delay
    assert await reraise_failed_once(pg, redis, HOUR) == []  # two passes: one step
    assert await escalations(pg, recorded.id) == [(1, first)]
    assert await redis.exists(f"arq:job:event:{first}")
    await drain()
    assert await alerted(pg, first) == {"S05"}  # the deputy DSL
    # The deputy hears; the old failure does not climb on to the head by itself.
    assert await escalation_pass(pg, redis, HOUR) == []
    assert await escalations(pg, recorded.id) == [(1, first)]


async def test_a_failed_deputy_alert_goes_to_the_head(pg, redis, school, drain):
    recorded = await resolved_incident(pg, school, drain, redis, ["safeguarding/cla"])
    await fail(pg, recorded.event, "S04")
    [first] = await reraise_failed_once(pg, redis)
    await drain()
    await fail(pg, first, "S05")
    [second] = await reraise_failed_once(pg, redis)
    await drain()
    assert await alerted(pg, second) == {"S01"}
    await fail(pg, second, "S01")
    assert await reraise_failed_once(pg, redis) == []  # the head is the last step
    assert [level for level, _ in await escalations(pg, recorded.id)] == [1, 2]


async def test_concurrent_passes_raise_one_step(pg, redis, school, drain):
    recorded = await resolved_incident(pg, school, drain, redis, ["safeguarding/cla"])
    for staff in ("S01", "S02", "S04"):
        await fail(pg, recorded.event, staff)
    created = await asyncio.gather(*(reraise_failed_once(pg, redis) for _ in range(5)))
    assert sum(len(c) for c in created) == 1
    assert [level for level, _ in await escalations(pg, recorded.id)] == [1]


async def test_a_failed_ordinary_alert_raises_nothing(pg, redis, school, drain):
    recorded = await resolved_incident(pg, school, drain, redis, ["behaviour"])
    await fail(pg, recorded.event, "S01")
    assert await pg.fetchval("SELECT count(*) FROM alerts WHERE state = 'failed'") == 1
    assert await escalation_pass(pg, redis, 0) == []
    assert await escalations(pg, recorded.id) == []


async def test_no_reraise_once_a_dsl_has_read(pg, redis, school, drain):
    recorded = await resolved_incident(pg, school, drain, redis, ["safeguarding/cla"])
    await pg.execute(
        """UPDATE alerts SET read_at = now(), self_read_at = now()
           WHERE event_id = $1 AND recipient_id IN
                 (SELECT id FROM staff WHERE external_id = 'S04')""",
        recorded.event,
    )
    await fail(pg, recorded.event, "S01")
    assert await reraise_failed_once(pg, redis) == []
