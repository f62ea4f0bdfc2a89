"""IDOR attempts across pupils, incidents, alerts and schools, with API keys and sessions.

Anything not yours answers exactly like something that does not exist (404, same body), and
a session acts as its own member of staff only.
"""

from __future__ import annotations

import uuid

from tests.ingest.conftest import ADMIN, incident
from tests.security.conftest import RESTRICTED, World


async def _problem(response) -> tuple[int, str]:
    body = await response.json()
    return response.status, body["detail"]


async def _missing_incident(client, headers=None, browser=None) -> tuple[int, str]:
    path = f"/v1/incidents/{uuid.uuid4()}"
    r = await (browser.request("GET", path) if browser else client.get(path, headers=headers))
    return await _problem(r)


async def test_api_keys_never_cross_schools(world: World) -> None:
    home, away = world.home, world.away
    missing = await _missing_incident(world.ingest, away.headers)
    for name in home.incidents:
        r = await world.ingest.get(f"/v1/incidents/{home.incidents[name]}", headers=away.headers)
        assert await _problem(r) == missing, name
        r = await world.notifier.get(
            f"/v1/incidents/{home.incidents[name]}/alerts", headers=away.headers
        )
        assert r.status == 404
    alert = home.alerts[("ordinary", "S08")]
    r = await world.ingest.post(
        f"/v1/schools/{away.id}/api-keys",
        json={"name": "staff app", "scopes": ["alerts:staff"]},
        headers=ADMIN,
    )
    away_staff_app = {"Authorization": f"Bearer {(await r.json())['key']}"}
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S08"}, headers=away_staff_app
    )
    assert r.status == 404
    assert await world.pg.fetchval("SELECT read_at FROM alerts WHERE id = $1", alert) is None
    r = await world.ingest.post(
        f"/v1/incidents/{home.incidents['ordinary']}/actions",
        json={"author": "S06", "description": "x"},
        headers=away.headers,
    )
    assert r.status == 404
    # No key reads a chronology, another school's or its own.
    r = await world.ingest.get("/v1/pupils/P0001/chronology", headers=away.headers)
    assert r.status == 403


async def test_a_second_key_of_the_school_sees_nothing_the_first_posted(world: World):
    home = world.home
    r = await world.ingest.post(
        f"/v1/schools/{home.id}/api-keys", json={"name": "scanner"}, headers=ADMIN
    )
    other = {"Authorization": f"Bearer {(await r.json())['key']}"}
    ordinary = f"/v1/incidents/{home.incidents['ordinary']}"
    assert (await world.ingest.get(ordinary, headers=home.headers)).status == 200  # its own
    for name in ("ordinary", "restricted"):
        r = await world.ingest.get(f"/v1/incidents/{home.incidents[name]}", headers=other)
        assert await _problem(r) == await _missing_incident(world.ingest, other), name


async def test_a_teacher_sees_only_their_pupils_and_never_restricted(world: World) -> None:
    home = world.home
    teacher = await world.browser("S06")
    missing = await _missing_incident(world.ingest, browser=teacher)
    assert (
        await teacher.request("GET", f"/v1/incidents/{home.incidents['ordinary']}")
    ).status == 200
    for name in ("other_class", "restricted"):
        r = await teacher.request("GET", f"/v1/incidents/{home.incidents[name]}")
        assert await _problem(r) == missing, name
        r = await world.on_notifier(teacher).request(
            "GET", f"/v1/incidents/{home.incidents[name]}/alerts"
        )
        assert r.status == 404, name
    r = await teacher.request("GET", f"/v1/incidents/{world.away.incidents['ordinary']}")
    assert await _problem(r) == missing
    assert (await teacher.request("GET", "/v1/pupils/P0002/chronology")).status == 404
    chronology = await (await teacher.request("GET", "/v1/pupils/P0001/chronology")).json()
    assert {e["id"] for e in chronology} == {str(home.incidents["ordinary"])}


async def test_an_unelevated_dsl_does_not_see_restricted_incidents(world: World) -> None:
    dsl = await world.browser("S04")  # alerted to it by rule, but not elevated
    r = await dsl.request("GET", f"/v1/incidents/{world.home.incidents['restricted']}")
    assert r.status == 404


async def test_views_are_audited_with_who_what_and_where(world: World) -> None:
    home = world.home
    teacher = await world.browser("S06")
    before = await world.count("audit_log")
    await teacher.request("GET", f"/v1/incidents/{home.incidents['other_class']}")  # denied
    assert await world.count("audit_log") == before
    await teacher.request("GET", f"/v1/incidents/{home.incidents['ordinary']}")
    await world.ingest.get(f"/v1/incidents/{home.incidents['ordinary']}", headers=home.headers)
    rows = await world.pg.fetch(
        """SELECT s.external_id AS staff, l.actor_api_key_id, l.subject_id, host(l.ip) AS ip,
                  l.at FROM audit_log l LEFT JOIN staff s ON s.id = l.actor_staff_id
           WHERE l.action = 'incident.view' ORDER BY l.id"""
    )
    assert [(r["staff"], r["actor_api_key_id"] is not None) for r in rows] == [
        ("S06", False),
        (None, True),
    ]
    assert {r["subject_id"] for r in rows} == {str(home.incidents["ordinary"])}
    assert all(r["ip"] == "127.0.0.1" and r["at"] for r in rows)


async def test_a_session_authors_only_as_itself(world: World) -> None:
    teacher = await world.browser("S06")
    before = await world.count("incidents")
    r = await teacher.request("POST", "/v1/incidents", incident(author="S04"))
    assert r.status == 403 and r.content_type == "application/problem+json"
    assert (await r.json())["field"] == "author"
    r = await teacher.request("POST", "/v1/incidents", incident(author=...))
    assert r.status == 201 and (await r.json())["author"] == "S06"
    r = await teacher.request("POST", "/v1/incidents", incident(author="S06"))
    assert r.status == 201
    restricted = incident(author=..., categories=[RESTRICTED])
    r = await teacher.request("POST", "/v1/incidents", restricted)
    assert r.status == 403 and (await r.json())["field"] == "categories"
    assert await world.count("incidents") == before + 2
    admin_only = await world.browser("S09")
    assert (await admin_only.request("POST", "/v1/incidents", incident(author=...))).status == 403


async def test_a_session_acts_only_on_incidents_it_may_see(world: World) -> None:
    home = world.home
    teacher = await world.browser("S06")
    body = {"description": "Spoke to parent."}
    for name in ("other_class", "restricted"):
        r = await teacher.request("POST", f"/v1/incidents/{home.incidents[name]}/actions", body)
        assert r.status == 404, name
    assert await world.count("actions") == 0
    r = await teacher.request(
        "POST", f"/v1/incidents/{home.incidents['ordinary']}/actions", {**body, "author": "S01"}
    )
    assert r.status == 403 and (await r.json())["field"] == "author"
    r = await teacher.request("POST", f"/v1/incidents/{home.incidents['ordinary']}/actions", body)
    assert r.status == 201 and (await r.json())["author"] == "S06"


async def test_a_session_sees_and_marks_only_its_own_alerts(world: World) -> None:
    home = world.home
    assistant = world.on_notifier(await world.browser("S08"))
    assert (await assistant.request("GET", "/v1/staff/S01/alerts")).status == 404
    mine = await (await assistant.request("GET", "/v1/staff/S08/alerts")).json()
    assert {a["recipient"] for a in mine} == {"S08"} and mine
    theirs = home.alerts[("ordinary", "S01")]
    r = await assistant.request("POST", f"/v1/alerts/{theirs}/read", {"staff": "S01"})
    assert r.status == 403 and (await r.json())["field"] == "staff"
    assert (await assistant.request("POST", f"/v1/alerts/{theirs}/read", {})).status == 404
    away_alert = world.away.alerts[("ordinary", "S08")]
    assert (await assistant.request("POST", f"/v1/alerts/{away_alert}/read")).status == 404
    assert await world.pg.fetchval("SELECT count(*) FROM alerts WHERE read_at IS NOT NULL") == 0
    own = home.alerts[("ordinary", "S08")]
    r = await assistant.request("POST", f"/v1/alerts/{own}/read")
    assert r.status == 200 and (await r.json())["read_at"]
    r = await assistant.request("GET", f"/v1/incidents/{home.incidents['ordinary']}/alerts")
    assert r.status == 200 and {a["recipient"] for a in await r.json()} >= {"S01", "S08"}


async def test_a_staff_apps_key_acts_for_any_staff_of_its_school(world: World) -> None:
    home = world.home
    r = await world.ingest.post(
        f"/v1/schools/{home.id}/api-keys",
        json={"name": "staff app", "scopes": ["alerts:staff"]},
        headers=ADMIN,
    )
    staff_app = {"Authorization": f"Bearer {(await r.json())['key']}"}
    r = await world.notifier.get("/v1/staff/S01/alerts", headers=staff_app)
    assert r.status == 200 and {a["recipient"] for a in await r.json()} == {"S01"}
    alert = home.alerts[("ordinary", "S01")]
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S02"}, headers=staff_app
    )
    assert r.status == 404  # not S02's alert
    r = await world.notifier.post(
        f"/v1/alerts/{alert}/read", json={"staff": "S01"}, headers=staff_app
    )
    assert r.status == 200
