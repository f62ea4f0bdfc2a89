"""Attack: silence an unread safeguarding concern by marking the DSL's alert read with an API
key (the MIS's, or a stolen one), which stopped its escalation to the deputy DSLs and the head.
Only a DSL or deputy DSL reading it themselves stops an escalation now."""

from __future__ import annotations

from services.worker.escalation import escalate_once
from shared import queue


async def _escalations(world, redis_url: str) -> list[int]:
    redis = await queue.connect(redis_url)
    try:
        return await escalate_once(world.pg, redis, 0)
    finally:
        await redis.aclose()


async def test_an_api_key_marking_the_dsls_alert_read_does_not_stop_escalation(world, redis_url):
    alert = world.home.alerts[("restricted", "S05")]  # the deputy DSL's alert
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S05"}, headers=world.home.headers
    )
    assert r.status == 200 and (await r.json())["read_at"] is not None
    assert await _escalations(world, redis_url) != []


async def test_the_dsl_reading_it_themselves_stops_escalation(world, redis_url):
    alert = world.home.alerts[("restricted", "S05")]
    browser = world.on_notifier(await world.browser("S05"))
    r = await browser.request("POST", f"/v1/alerts/{alert}/read")
    assert r.status == 200
    assert await _escalations(world, redis_url) == []
