"""Session fixation and CSRF, from the attacker's side, against the real ingest and notifier."""

from __future__ import annotations

from tests.ingest.conftest import incident
from tests.security.conftest import EMAILS, World
from tests.staff.client import Browser


async def test_a_planted_session_id_is_worthless_after_login(world: World) -> None:
    victim = Browser(world.ingest)
    victim.cookie = "attacker-chosen-session-id"
    assert (await victim.login(EMAILS["S04"], world.home.password)).status == 201
    assert victim.cookie != "attacker-chosen-session-id"
    attacker = Browser(world.ingest)
    attacker.cookie = "attacker-chosen-session-id"
    assert (await attacker.request("GET", "/v1/categories")).status == 401


async def test_an_attackers_own_session_planted_on_a_victim_does_not_become_theirs(
    world: World,
) -> None:
    attacker = await world.browser("S06")
    planted = attacker.cookie
    victim = Browser(world.ingest)
    victim.cookie = planted
    assert (await victim.login(EMAILS["S04"], world.home.password)).status == 201
    assert victim.cookie != planted
    # The planted id was ended at the victim's login: it is nobody's session now.
    assert (await attacker.request("GET", "/v1/categories")).status == 401
    r = await victim.request("POST", "/v1/incidents", incident(author=...))
    assert r.status == 201 and (await r.json())["author"] == "S04"


async def test_state_changes_by_session_need_the_sessions_csrf_token(world: World) -> None:
    teacher = await world.browser("S06")
    other = await world.browser("S08")
    before = await world.count("incidents")
    body = incident(author=...)
    r = await teacher.request("POST", "/v1/incidents", body, csrf=False)
    assert r.status == 403 and r.content_type == "application/problem+json"
    for wrong in ("", "not-the-token", other.csrf):
        r = await teacher.request(
            "POST", "/v1/incidents", body, csrf=False, headers={"X-CSRF-Token": wrong}
        )
        assert r.status == 403, wrong
    ordinary = world.home.incidents["ordinary"]
    r = await teacher.request(
        "POST", f"/v1/incidents/{ordinary}/actions", {"description": "x"}, csrf=False
    )
    assert r.status == 403
    assert await world.count("incidents") == before and await world.count("actions") == 0
    r = await teacher.request("POST", "/v1/incidents", body)
    assert r.status == 201


async def test_csrf_on_logout_and_on_the_notifier(world: World) -> None:
    assistant = await world.browser("S08")
    assert (await assistant.request("DELETE", "/v1/session", csrf=False)).status == 403
    assert (await assistant.request("GET", "/v1/categories")).status == 200  # still signed in
    alert = world.home.alerts[("ordinary", "S08")]
    on_notifier = world.on_notifier(assistant)
    r = await on_notifier.request("POST", f"/v1/alerts/{alert}/read", csrf=False)
    assert r.status == 403
    assert await world.pg.fetchval("SELECT read_at FROM alerts WHERE id = $1", alert) is None
    assert (await on_notifier.request("POST", f"/v1/alerts/{alert}/read")).status == 200


async def test_an_api_key_needs_no_csrf_token_and_a_bad_key_is_not_a_session(world: World) -> None:
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=world.home.headers)
    assert r.status == 201
    teacher = await world.browser("S06")
    # An Authorization header means "API key": a wrong one is refused even beside a session.
    r = await teacher.request(
        "GET", "/v1/categories", headers={"Authorization": "Bearer not-a-key"}
    )
    assert r.status == 401
