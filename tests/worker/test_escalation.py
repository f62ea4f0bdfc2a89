"""Escalation: a restricted incident no DSL has read goes to the deputy DSLs, then the head."""

import asyncio

from services.worker.escalation import escalate_once
from shared import queue
from tests.support.world import alerted, record_incident


async def restricted_incident(pg, school, drain, redis):
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S03", "P0001", ["safeguarding/cla"])
        incident = recorded.id
        event = recorded.event
    await queue.enqueue_resolve(redis, event)
    await drain()
    return incident, event


async def escalations(pg, incident):
    rows = await pg.fetch(
        "SELECT id, level FROM alert_events WHERE incident_id = $1 "
        "AND kind = 'escalation' ORDER BY level",
        incident,
    )
    return [(r["level"], r["id"]) for r in rows]


async def read_by(pg, incident, staff):
    await pg.execute(
        """UPDATE alerts SET read_at = now(), self_read_at = now()
           WHERE incident_id = $1 AND recipient_id IN
                 (SELECT id FROM staff WHERE external_id = $2)""",
        incident,
        staff,
    )


async def test_unread_restricted_incident_escalates_to_deputies_then_head(pg, redis, school, drain):
    incident, _ = await restricted_incident(pg, school, drain, redis)
    assert await escalate_once(pg, redis, 3600) == []  # not yet due
    [first] = await escalate_once(pg, redis, 0)
    assert await escalations(pg, incident) == [(1, first)]
    assert await redis.exists(f"arq:job:event:{first}")
    assert await escalate_once(pg, redis, 0) == []  # level 2 waits for level 1's alerts
    await drain()
    async with pg.acquire() as conn:
        assert await alerted(conn, first) == {"S05"}
        [second] = await escalate_once(pg, redis, 0)
        await drain()
        assert await alerted(conn, second) == {"S01"}
    assert await escalate_once(pg, redis, 0) == []
    assert await escalations(pg, incident) == [(1, first), (2, second)]
    priorities = await pg.fetch("SELECT DISTINCT priority FROM alerts")
    assert [r["priority"] for r in priorities] == [1]


async def test_no_escalation_once_a_dsl_has_read(pg, redis, school, drain):
    incident, _ = await restricted_incident(pg, school, drain, redis)
    await read_by(pg, incident, "S04")
    assert await escalate_once(pg, redis, 0) == []


async def test_reading_by_others_does_not_stop_escalation(pg, redis, school, drain):
    incident, _ = await restricted_incident(pg, school, drain, redis)
    await read_by(pg, incident, "S01")
    assert len(await escalate_once(pg, redis, 0)) == 1


async def test_deputy_reading_the_escalation_stops_level_two(pg, redis, school, drain):
    incident, _ = await restricted_incident(pg, school, drain, redis)
    await escalate_once(pg, redis, 0)
    await drain()
    await read_by(pg, incident, "S05")
    assert await escalate_once(pg, redis, 0) == []
    assert [level for level, _ in await escalations(pg, incident)] == [1]


async def test_unrestricted_incidents_never_escalate(pg, redis, school, drain):
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S03", "P0001", ["behaviour"])).event
    await queue.enqueue_resolve(redis, event)
    await drain()
    assert await escalate_once(pg, redis, 0) == []


async def test_each_level_happens_once_with_concurrent_passes(pg, redis, school, drain):
    incident, _ = await restricted_incident(pg, school, drain, redis)
    created = await asyncio.gather(*(escalate_once(pg, redis, 0) for _ in range(5)))
    assert sum(len(c) for c in created) == 1
    assert [level for level, _ in await escalations(pg, incident)] == [1]
