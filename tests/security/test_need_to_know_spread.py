"""Attack: a teacher named on a restricted incident (so granted need-to-know access to it)
named another teacher on an action, who was then alerted and could read the restricted
write-up too: access spread from person to person.

Only DSL, deputy DSL, SLT, head and pastoral staff grant access by naming someone; anyone
else's names on a restricted incident or action are refused (422, field alert_staff), alert
nobody and grant nothing.
"""

from __future__ import annotations

from tests.ingest.conftest import incident
from tests.security.conftest import RESTRICTED, World
from tests.security.test_api_key_scopes import DEFAULT, new_key
from tests.support.world import granted, record_incident, resolve_alerts


async def _restricted_naming_the_teacher(world: World) -> str:
    async with world.pg.acquire() as conn:
        recorded = await record_incident(
            conn, world.home, "S04", "P0001", [RESTRICTED], named=["S06"]
        )
        await resolve_alerts(conn, recorded.event)
    assert await granted(world.pg, recorded.id) == {"S06"}
    return f"/v1/incidents/{recorded.id}"


async def test_a_named_teacher_cannot_name_another(world: World) -> None:
    path = await _restricted_naming_the_teacher(world)
    teacher = await world.browser("S06")
    assert (await teacher.request("GET", path)).status == 200  # need-to-know: theirs to read
    before = await world.count("alert_events")
    r = await teacher.request(
        "POST", f"{path}/actions", {"description": "Told Gail.", "alert_staff": ["S07"]}
    )
    assert r.status == 422 and (await r.json())["field"] == "alert_staff"
    assert await world.count("actions") == 0 and await world.count("alert_events") == before
    r = await teacher.request("POST", f"{path}/actions", {"description": "Spoke to parent."})
    assert r.status == 201
    other = await world.browser("S07")
    assert (await other.request("GET", path)).status == 404


async def test_a_key_posting_as_a_teacher_cannot_name_anyone(world: World) -> None:
    _, key = await new_key(world, scopes=[*DEFAULT, "restricted"])
    r = await world.ingest.post(
        "/v1/incidents",
        json=incident(author="S04", categories=[RESTRICTED], alert_staff=["S06"]),
        headers=key,
    )
    assert r.status == 201
    path = r.headers["Location"]
    r = await world.ingest.post(
        f"{path}/actions",
        json={"author": "S06", "description": "Told Gail.", "alert_staff": ["S07"]},
        headers=key,
    )
    assert r.status == 422 and (await r.json())["field"] == "alert_staff"
    assert await world.count("actions") == 0
    r = await world.ingest.post(
        f"{path}/actions",
        json={"author": "S04", "description": "Told Gail's DSL.", "alert_staff": ["S07"]},
        headers=key,
    )
    assert r.status == 201  # a DSL may
    assert await world.count("actions") == 1
