"""Attack: replaying a POST with the same Idempotency-Key returned the stored incident, with
every later action, to a caller who could no longer see it, and left no audit entry; and a key
was the school's, so another caller's key could fish for someone else's incident.

A replay now answers only a caller who may still see the incident (404 otherwise, as for a
missing one), is audited as a view, and an Idempotency-Key belongs to its caller: the same key
from another API key or another member of staff is another request.
"""

from __future__ import annotations

import json

from tests.ingest.conftest import incident
from tests.security.conftest import World
from tests.security.test_api_key_scopes import new_key


async def test_a_replay_answers_only_who_may_still_see_it(world: World) -> None:
    teacher = await world.browser("S06")
    body = incident(author=...)
    headers = {"Idempotency-Key": "form-1"}
    r = await teacher.request("POST", "/v1/incidents", body, headers=headers)
    assert r.status == 201
    incident_id = (await r.json())["id"]
    r = await teacher.request("POST", "/v1/incidents", body, headers=headers)
    assert r.status == 200 and r.headers["Idempotent-Replayed"] == "true"
    # Moved into a restricted category since: the teacher may no longer see it.
    async with world.pg.acquire() as conn:
        await conn.execute("UPDATE incidents SET restricted = true WHERE id = $1", incident_id)
    missing = await teacher.request("GET", f"/v1/incidents/{incident_id}")
    assert missing.status == 404
    r = await teacher.request("POST", "/v1/incidents", body, headers=headers)
    assert r.status == 404
    assert (await r.json())["detail"] == (await missing.json())["detail"]


async def test_a_replay_is_audited_and_shows_only_the_callers_own(world: World) -> None:
    _, mis = await new_key(world)
    headers = {**mis, "Idempotency-Key": "mis-42"}
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=headers)
    assert r.status == 201
    path = r.headers["Location"]
    teacher = await world.browser("S06")
    r = await teacher.request("POST", f"{path}/actions", {"description": "Teacher's note."})
    assert r.status == 201
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=headers)
    assert r.status == 200 and (await r.json())["actions"] == []
    rows = await world.pg.fetch(
        "SELECT actor_api_key_id, detail FROM audit_log WHERE action = 'incident.view'"
    )
    assert len(rows) == 1 and rows[0]["actor_api_key_id"] is not None
    detail = rows[0]["detail"]
    assert (json.loads(detail) if isinstance(detail, str) else detail).get("replay")


async def test_an_idempotency_key_belongs_to_its_caller(world: World) -> None:
    _, first = await new_key(world)
    _, second = await new_key(world)
    key = {"Idempotency-Key": "shared-key"}
    r = await world.ingest.post("/v1/incidents", json=incident(), headers={**first, **key})
    assert r.status == 201
    mine = (await r.json())["id"]
    for body in (incident(), incident(description="Another write-up entirely.")):
        r = await world.ingest.post("/v1/incidents", json=body, headers={**second, **key})
        assert r.status == 201, await r.text()
        assert (await r.json())["id"] != mine
        key = {"Idempotency-Key": "shared-key-2"}
    r = await world.ingest.post(
        "/v1/incidents", json=incident(), headers={**first, "Idempotency-Key": "shared-key"}
    )
    assert r.status == 200 and (await r.json())["id"] == mine
    s06, s07 = await world.browser("S06"), await world.browser("S07")
    form = {"Idempotency-Key": "page-key"}
    r = await s06.request("POST", "/v1/incidents", incident(author=...), headers=form)
    assert r.status == 201
    r = await s07.request(
        "POST", "/v1/incidents", incident(author=..., pupil="P0002"), headers=form
    )
    assert r.status == 201, await r.text()
