"""Idempotency-Key: retries are safe, reuse with another body is refused, races make one."""

from __future__ import annotations

import asyncio

from tests.ingest.conftest import incident
from tests.support.world import seed_school


def keyed(school, key: str) -> dict[str, str]:
    return {**school.headers, "Idempotency-Key": key}


async def test_same_key_and_body_returns_the_same_incident(client, school, pg):
    first = await client.post("/v1/incidents", json=incident(), headers=keyed(school, "k-1"))
    assert first.status == 201
    # Same body with keys in another order and other whitespace is the same body.
    again = await client.post(
        "/v1/incidents", json=dict(reversed(incident().items())), headers=keyed(school, "k-1")
    )
    assert again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == (await first.json())["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 1
    assert await pg.fetchval("SELECT count(*) FROM alert_events") == 1


async def test_same_key_with_a_different_body_is_422(client, school, pg):
    await client.post("/v1/incidents", json=incident(), headers=keyed(school, "k-2"))
    r = await client.post(
        "/v1/incidents", json=incident(description="Something else."), headers=keyed(school, "k-2")
    )
    assert r.status == 422
    assert (await r.json())["field"] == "Idempotency-Key"
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 1


async def test_keys_are_per_school(client, school, pg):
    other = await seed_school(pg, "Other School")
    a = await client.post("/v1/incidents", json=incident(), headers=keyed(school, "shared"))
    b = await client.post("/v1/incidents", json=incident(), headers=keyed(other, "shared"))
    assert a.status == b.status == 201
    assert (await a.json())["id"] != (await b.json())["id"]


async def test_concurrent_requests_with_one_key_make_one_incident(client, school, pg):
    responses = await asyncio.gather(
        *(
            client.post("/v1/incidents", json=incident(), headers=keyed(school, "race"))
            for _ in range(8)
        )
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 7 + [201]
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 1
    assert await pg.fetchval("SELECT count(*) FROM alert_events") == 1


async def test_bad_key_is_422(client, school):
    r = await client.post("/v1/incidents", json=incident(), headers=keyed(school, "x" * 201))
    assert r.status == 422 and (await r.json())["field"] == "Idempotency-Key"


async def test_actions_are_idempotent_too(client, school, pg):
    r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
    url = r.headers["Location"] + "/actions"
    body = {"author": "S02", "description": "Phoned parent."}
    first = await client.post(url, json=body, headers=keyed(school, "a-1"))
    again = await client.post(url, json=body, headers=keyed(school, "a-1"))
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    other = await client.post(
        url, json={**body, "description": "Other."}, headers=keyed(school, "a-1")
    )
    assert other.status == 422 and (await other.json())["field"] == "Idempotency-Key"
    assert await pg.fetchval("SELECT count(*) FROM actions") == 1
