"""Attack: silence an unread safeguarding concern by marking the DSL's alert read with an API
key (the MIS's, or a stolen one), which stopped its escalation to the deputy DSLs and the head.
Only a DSL or deputy DSL reading it themselves stops an escalation now: in a session, or in a
staff app whose key holds `alerts:staff`; no other key may mark an alert read."""

from __future__ import annotations

from services.worker.escalation import escalate_once
from shared import queue
from tests.ingest.conftest import ADMIN


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
    # The MIS's key (default scopes) may not mark anyone's alert read at all.
    assert r.status == 403 and (await r.json())["scope"] == "alerts:staff"
    assert await world.pg.fetchval("SELECT read_at FROM alerts WHERE id = $1", alert) is None
    assert await _escalations(world, redis_url) != []


async def test_a_staff_apps_key_reading_for_the_dsl_stops_escalation(world, redis_url):
    """A staff app (`alerts:staff`) shows the deputy DSL their own alert: their read."""
    r = await world.ingest.post(
        f"/v1/schools/{world.home.id}/api-keys",
        json={"name": "staff app", "scopes": ["alerts:staff"]},
        headers=ADMIN,
    )
    staff_app = {"Authorization": f"Bearer {(await r.json())['key']}"}
    alert = world.home.alerts[("restricted", "S05")]
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S05"}, headers=staff_app
    )
    assert r.status == 200
    assert await _escalations(world, redis_url) == []


async def test_the_dsl_reading_it_themselves_stops_escalation(world, redis_url):
    alert = world.home.alerts[("restricted", "S05")]
    browser = world.on_notifier(await world.browser("S05"))
    r = await browser.request("POST", f"/v1/alerts/{alert}/read")
    assert r.status == 200
    assert await _escalations(world, redis_url) == []
