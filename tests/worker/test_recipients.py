"""Recipient resolution against real PostgreSQL with the sample school (DOMAIN.md "Alerts")."""

import asyncio

import pytest

from services.worker.escalation import escalate_once
from services.worker.recipients import resolve
from tests.support.world import (
    ROUTINE,
    alerted,
    granted,
    record_action,
    record_incident,
    resolve_alerts,
)

LEADERS = {"S01", "S02", "S03"}
DSLS = {"S04", "S05"}


async def resolved(pg, event_id):
    async with pg.acquire() as conn, conn.transaction():
        return await resolve(conn, event_id)


async def test_unrestricted_incident_alerts_leaders_and_class_teachers(pg, school):
    async with pg.acquire() as conn:
        event = (
            await record_incident(conn, school, "S07", "P0001", ["behaviour/negative-behaviour"])
        ).event
        result = await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | {"S06", "S08"}
        assert result.alerts == 5
        assert await conn.fetchval(
            "SELECT resolved_at IS NOT NULL FROM alert_events WHERE id = $1", event
        )
        states = await conn.fetch("SELECT DISTINCT state, priority FROM alerts")
        assert [tuple(r) for r in states] == [("queued", 0)]


async def test_author_is_never_alerted_about_their_own_record(pg, school):
    async with pg.acquire() as conn:
        event = (
            await record_incident(conn, school, "S06", "P0001", ["behaviour"], named=["S06"])
        ).event
        await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | {"S08"}


async def test_restricted_incident_alerts_only_privileged_roles(pg, school):
    async with pg.acquire() as conn:
        # Only privileged staff may record it: the DSL, who is not alerted about their own.
        recorded = await record_incident(
            conn, school, "S04", "P0001", ["safeguarding/cp-plan", "behaviour"]
        )
        incident = recorded.id
        event = recorded.event
        await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | DSLS - {"S04"}
        assert await conn.fetchval("SELECT DISTINCT priority FROM alerts") == 1
        assert await granted(conn, incident) == set()


async def test_slt_category_is_restricted_too(pg, school):
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S05", "P0003", ["slt"])).event
        await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | DSLS - {"S05"}  # the author excepted


async def test_linked_pupils_class_teachers_are_alerted(pg, school):
    async with pg.acquire() as conn:
        event = (
            await record_incident(conn, school, "S02", "P0001", ["behaviour"], linked=["P0002"])
        ).event
        await resolved(pg, event)
        assert await alerted(conn, event) == {"S01", "S03", "S06", "S07", "S08"}


async def test_named_staff_on_restricted_incident_get_alert_and_access_grant(pg, school):
    async with pg.acquire() as conn:
        recorded = await record_incident(
            conn, school, "S04", "P0001", ["safeguarding/cla"], named=["S07", "S02"]
        )
        incident = recorded.id
        event = recorded.event
        result = await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | {"S05", "S07"}
        # The SLT member sees restricted incidents by role; only the teacher needs a grant.
        assert await granted(conn, incident) == {"S07"}
        assert result.grants == 1
        reason = await conn.fetchval("SELECT reason FROM incident_access_grants")
        assert reason == "named on restricted incident"


async def test_named_staff_on_unrestricted_incident_get_no_grant(pg, school):
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S01", "P0002", ["behaviour"], named=["S09"])
        incident = recorded.id
        event = recorded.event
        await resolved(pg, event)
        assert await alerted(conn, event) == {"S02", "S03", "S07", "S09"}
        assert await granted(conn, incident) == set()


async def test_inactive_staff_are_skipped(pg, school):
    async with pg.acquire() as conn:
        # Recorded while they were still on the staff; they left before it was resolved.
        recorded = await record_incident(
            conn, school, "S04", "P0001", ["safeguarding/cla"], named=["S07"]
        )
        incident = recorded.id
        event = recorded.event
        await conn.execute(
            "UPDATE staff SET active = false WHERE external_id IN ('S02', 'S06', 'S07')"
        )
        await resolved(pg, event)
        assert await alerted(conn, event) == {"S01", "S03", "S05"}
        assert await granted(conn, incident) == set()
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
        await resolved(pg, event)
        assert await alerted(conn, event) == {"S01", "S03", "S08"}


async def test_inactive_class_teachers_are_not_alerted(pg, school):
    async with pg.acquire() as conn:
        await conn.execute("UPDATE classes SET active = false WHERE external_id = 'C3'")
        event = (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
        await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS


async def test_action_alerts_leaders_and_named_staff(pg, school):
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S06", "P0001", ["behaviour"])
        incident = recorded.id
        first = recorded.event
        await resolved(pg, first)
        event = (await record_action(conn, school, incident, "S02", named=["S07"])).event
        await resolved(pg, event)
        assert await alerted(conn, event) == {"S01", "S03", "S07"}
        assert await granted(conn, incident) == set()


async def test_action_on_restricted_incident_stays_need_to_know(pg, school):
    async with pg.acquire() as conn:
        await conn.execute(
            """INSERT INTO alert_rules (school_id, event_kind, category_slug, roles,
                                        class_teachers)
               VALUES ($1, 'action', NULL, ARRAY['teacher'], true)""",
            school.id,
        )
        recorded = await record_incident(conn, school, "S04", "P0001", ["safeguarding/cla"])
        incident = recorded.id
        event = (await record_action(conn, school, incident, "S04", named=["S08"])).event
        await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | {"S08"}
        assert await granted(conn, incident) == {"S08"}


async def test_custom_rule_adds_roles(pg, school):
    async with pg.acquire() as conn:
        await conn.execute(
            """INSERT INTO alert_rules (school_id, event_kind, category_slug, roles)
               VALUES ($1, 'incident', 'sen', ARRAY['teaching_assistant'])""",
            school.id,
        )
        event = (await record_incident(conn, school, "S09", "P0002", ["sen/hln"])).event
        await resolved(pg, event)
        assert await alerted(conn, event) == LEADERS | {"S07", "S08"}


@pytest.mark.parametrize("level, expected", [(1, {"S05"}), (2, {"S01"})])
async def test_escalation_events_alert_by_level(pg, redis, school, level, expected):
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S03", "P0001", ["safeguarding/cla"])).event
    await resolved(pg, event)
    for _ in range(level):  # the worker's escalation pass writes each level's event
        [event] = await escalate_once(pg, redis, 0)
        await resolved(pg, event)
    assert await alerted(pg, event) == expected


async def test_rerun_creates_nothing_new(pg, school):
    async with pg.acquire() as conn:
        recorded = await record_incident(
            conn, school, "S04", "P0001", ["safeguarding/cla"], named=["S07"]
        )
        incident = recorded.id
        event = recorded.event
        first = await resolved(pg, event)
        again = await resolved(pg, event)
        assert (first.alerts, again.alerts, again.already_resolved) == (5, 0, True)
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 5
        assert await granted(conn, incident) == {"S07"}


async def test_concurrent_resolution_creates_each_alert_once(pg, school):
    async with pg.acquire() as conn:
        events = [
            (await record_incident(conn, school, "S09", "P0001", ["behaviour"])).event
            for _ in range(5)
        ]
    results = await asyncio.gather(*(resolved(pg, e) for e in events * 3))
    assert sum(r.alerts for r in results) == 5 * 5
    assert sum(r.already_resolved for r in results) == 10
    async with pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 25
        assert (
            await conn.fetchval("SELECT count(DISTINCT (event_id, recipient_id)) FROM alerts") == 25
        )


async def test_unknown_event_is_reported_not_found(pg, school):
    result = await resolved(pg, 999_999)
    assert not result.found and result.alerts == 0


async def test_an_alert_made_after_its_recipients_action_starts_actioned(pg, school):
    """An action recorded before the worker resolved the incident still counts: the alert the
    author of that action then gets is actioned from the start, not "new" for good."""
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S06", "P0001", [ROUTINE])
        await record_action(conn, school, recorded.id, "S03", "Spoke to the pupil.")
        alerts = await resolve_alerts(conn, recorded.event)
        rows = {
            r["id"]: r["actioned_at"]
            for r in await conn.fetch(
                "SELECT id, actioned_at FROM alerts WHERE event_id = $1", recorded.event
            )
        }
    assert rows[alerts["S03"]] is not None  # pastoral acted before their alert existed
    assert rows[alerts["S01"]] is None  # the head has not
