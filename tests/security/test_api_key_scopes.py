"""Attack: an API key acted as any staff member of its school, a DSL included. It listed a
DSL's alerts and marked them read, added an action to a restricted incident it could not read
(naming a teacher, who could then read it), uploaded files to it, and read every incident and
chronology of its school.

A key now holds scopes: it posts, and reads back, only what it posted; staff alerts need
`alerts:staff` (never a default), restricted categories need `restricted`, the roster
`roster:write`; no key reads a chronology. Revoking a key ends it at once on every process.
"""

from __future__ import annotations

from typing import Any

from aiohttp import FormData

from tests.ingest.conftest import ADMIN, incident
from tests.security.conftest import RESTRICTED, World
from tests.support.world import School

DEFAULT = ["alerts:read", "incidents:read", "incidents:write"]


async def new_key(
    world: World, school: School | None = None, **body: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """A key created through the admin API: its 201 body and its Authorization header."""
    school = school or world.home
    r = await world.ingest.post(
        f"/v1/schools/{school.id}/api-keys", json={"name": "app", **body}, headers=ADMIN
    )
    assert r.status == 201, await r.text()
    created = await r.json()
    return created, {"Authorization": f"Bearer {created['key']}"}


async def _scope_refused(response, scope: str) -> None:
    assert response.status == 403, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["scope"] == scope and scope in body["detail"]


async def test_keys_are_created_with_scopes_and_listed_without_secrets(world: World) -> None:
    path = f"/v1/schools/{world.home.id}/api-keys"
    created, _ = await new_key(world)
    assert set(created) == {"id", "key", "name", "scopes", "authors"}
    assert sorted(created["scopes"]) == DEFAULT and created["authors"] is None
    staff_app, _ = await new_key(world, scopes=["alerts:staff"], authors=["S06"])
    assert staff_app["scopes"] == ["alerts:staff"] and staff_app["authors"] == ["S06"]
    r = await world.ingest.post(path, json={"name": "x", "scopes": ["root"]}, headers=ADMIN)
    assert r.status == 422 and (await r.json())["field"] == "scopes"
    r = await world.ingest.get(path, headers=ADMIN)
    assert r.status == 200
    listed = {k["id"]: k for k in await r.json()}
    assert set(listed[staff_app["id"]]) == {
        "id",
        "name",
        "scopes",
        "authors",
        "created_at",
        "revoked_at",
    }
    assert created["key"] not in await r.text() and staff_app["key"] not in await r.text()
    assert (await world.ingest.get(path, headers=world.home.headers)).status == 401


async def test_a_default_key_cannot_read_or_silence_a_dsls_alerts(world: World) -> None:
    home = world.home
    await _scope_refused(
        await world.notifier.get("/v1/staff/S05/alerts", headers=home.headers), "alerts:staff"
    )
    alert = home.alerts[("restricted", "S05")]
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S05"}, headers=home.headers
    )
    await _scope_refused(r, "alerts:staff")
    assert await world.pg.fetchval("SELECT read_at FROM alerts WHERE id = $1", alert) is None


async def test_a_staff_apps_key_reads_for_a_member_as_their_own_read(world: World) -> None:
    home = world.home
    _, staff_app = await new_key(world, scopes=["alerts:staff"])
    r = await world.notifier.get("/v1/staff/S05/alerts", headers=staff_app)
    assert r.status == 200 and {a["recipient"] for a in await r.json()} == {"S05"}
    alert = home.alerts[("restricted", "S05")]
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S05"}, headers=staff_app
    )
    assert r.status == 200
    row = await world.pg.fetchrow("SELECT read_at, self_read_at FROM alerts WHERE id = $1", alert)
    assert row["read_at"] is not None and row["self_read_at"] is not None
    # Staff alerts only: it posts and reads no incident.
    await _scope_refused(
        await world.ingest.post("/v1/incidents", json=incident(), headers=staff_app),
        "incidents:write",
    )


async def test_a_key_acts_only_on_incidents_it_posted(world: World) -> None:
    home = world.home
    _, other = await new_key(world)
    action = {"author": "S06", "description": "Spoke to parent.", "alert_staff": ["S07"]}
    for name in ("ordinary", "restricted"):
        path = f"/v1/incidents/{home.incidents[name]}"
        assert (await world.ingest.get(path, headers=other)).status == 404, name
        assert (
            await world.ingest.post(f"{path}/actions", json=action, headers=other)
        ).status == 404
        form = FormData()
        form.add_field("author", "S06")
        form.add_field("file", b"%PDF-1.4 x", filename="a.pdf", content_type="application/pdf")
        r = await world.ingest.post(f"{path}/files", data=form, headers=other)
        assert r.status == 404, name
        r = await world.notifier.get(f"{path}/alerts", headers=other)
        assert r.status == 404, name
    assert await world.count("actions") == 0
    assert await world.count("incident_files") == 0


async def test_a_key_reads_back_only_its_own_actions(world: World) -> None:
    _, mis = await new_key(world)
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=mis)
    assert r.status == 201
    path = r.headers["Location"]
    teacher = await world.browser("S06")
    r = await teacher.request("POST", f"{path}/actions", {"description": "Teacher's own note."})
    assert r.status == 201
    r = await world.ingest.post(
        f"{path}/actions", json={"author": "S06", "description": "From the MIS."}, headers=mis
    )
    assert r.status == 201
    body = await (await world.ingest.get(path, headers=mis)).json()
    assert [a["description"] for a in body["actions"]] == ["From the MIS."]
    assert (await world.notifier.get(f"{path}/alerts", headers=mis)).status == 200


async def test_each_scope_is_needed_for_its_requests(world: World) -> None:
    _, writer = await new_key(world, scopes=["incidents:write"])
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=writer)
    assert r.status == 201
    path = r.headers["Location"]
    await _scope_refused(await world.ingest.get(path, headers=writer), "incidents:read")
    await _scope_refused(await world.notifier.get(f"{path}/alerts", headers=writer), "alerts:read")
    _, reader = await new_key(world, scopes=["incidents:read"])
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=reader)
    await _scope_refused(r, "incidents:write")


async def test_restricted_categories_need_the_restricted_scope(world: World) -> None:
    home = world.home
    restricted = incident(author="S04", categories=[RESTRICTED])
    r = await world.ingest.post("/v1/incidents", json=restricted, headers=home.headers)
    await _scope_refused(r, "restricted")
    # The school's key posted a restricted incident before: it may not read it back either.
    r = await world.ingest.get(
        f"/v1/incidents/{home.incidents['restricted']}", headers=home.headers
    )
    assert r.status == 404
    _, safeguarding = await new_key(world, scopes=[*DEFAULT, "restricted"])
    r = await world.ingest.post(
        "/v1/incidents", json={**restricted, "author": "S06"}, headers=safeguarding
    )
    assert r.status == 403 and (await r.json())["field"] == "categories"
    r = await world.ingest.post("/v1/incidents", json=restricted, headers=safeguarding)
    assert r.status == 201
    assert (await world.ingest.get(r.headers["Location"], headers=safeguarding)).status == 200


async def test_authors_limit_whom_a_key_posts_as(world: World) -> None:
    _, scanner = await new_key(world, authors=["S06"])
    r = await world.ingest.post("/v1/incidents", json=incident(author="S04"), headers=scanner)
    assert r.status in (403, 422) and (await r.json())["field"] == "author"
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=scanner)
    assert r.status == 201
    path = r.headers["Location"]
    r = await world.ingest.post(
        f"{path}/actions", json={"author": "S01", "description": "x"}, headers=scanner
    )
    assert r.status in (403, 422) and (await r.json())["field"] == "author"
    assert await world.count("incidents") == 5


async def test_no_key_reads_a_chronology(world: World) -> None:
    _, everything = await new_key(
        world,
        scopes=[
            "incidents:write",
            "incidents:read",
            "alerts:read",
            "alerts:staff",
            "restricted",
            "roster:write",
        ],
    )
    for headers in (world.home.headers, everything):
        r = await world.ingest.get("/v1/pupils/P0001/chronology", headers=headers)
        assert r.status == 403 and r.content_type == "application/problem+json"


async def test_an_mis_key_with_roster_write_imports_its_own_roster_only(world: World) -> None:
    home, away = world.home, world.away
    _, mis = await new_key(world, scopes=["roster:write"])
    r = await world.ingest.put(f"/v1/schools/{home.id}/roster", json=home.imported, headers=mis)
    assert r.status == 200, await r.text()
    r = await world.ingest.put(f"/v1/schools/{away.id}/roster", json=away.imported, headers=mis)
    assert r.status in (403, 404)
    r = await world.ingest.put(
        f"/v1/schools/{home.id}/roster", json=home.imported, headers=home.headers
    )
    await _scope_refused(r, "roster:write")


async def test_a_revoked_key_stops_at_once_on_every_process(world: World) -> None:
    home = world.home
    created, key = await new_key(world)
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=key)
    path = r.headers["Location"]
    # Both processes have the key cached now.
    assert (await world.ingest.get(path, headers=key)).status == 200
    assert (await world.notifier.get(f"{path}/alerts", headers=key)).status == 200
    keys = f"/v1/schools/{home.id}/api-keys"
    assert (await world.ingest.delete(f"{keys}/{created['id']}", headers=key)).status == 401
    r = await world.ingest.delete(f"{keys}/{created['id']}", headers=ADMIN)
    assert r.status == 204
    assert (await world.ingest.get(path, headers=key)).status == 401
    assert (await world.notifier.get(f"{path}/alerts", headers=key)).status == 401
    assert (await world.ingest.post("/v1/incidents", json=incident(), headers=key)).status == 401
    listed = {k["id"]: k for k in await (await world.ingest.get(keys, headers=ADMIN)).json()}
    assert listed[created["id"]]["revoked_at"] is not None
    # Another school's key id is not this school's to revoke.
    away_key, _ = await new_key(world, world.away)
    assert (await world.ingest.delete(f"{keys}/{away_key['id']}", headers=ADMIN)).status == 404
    assert (await world.ingest.get("/v1/categories", headers=home.headers)).status == 200
