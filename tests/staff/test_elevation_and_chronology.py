"""Enrolling an authenticator, elevating, replayed codes, device removal, TOTP at login, and the
chronology each kind of viewer gets (IDOR attempts across pupils and schools included)."""

import re

import pytest

from shared.auth import totp
from shared.auth.api_keys import create_api_key
from tests.staff.client import Browser, staff_app
from tests.support.world import (
    RESTRICTED,
    record_action,
    record_incident,
    resolve_alerts,
    seed_school,
    set_passwords,
)

PASSWORD = "Kettle-Drum-93!"
BEHAVIOUR = "behaviour/negative-behaviour"


@pytest.fixture
async def schools(pg):
    async with pg.acquire() as conn:
        home = await seed_school(conn)
        away = await seed_school(conn, "Elmwood Academy", email_domain="elmwood.example")
        for s in (home, away):
            await set_passwords(conn, s, PASSWORD)
        ordinary = await record_incident(
            conn, home, "S06", "P0001", [BEHAVIOUR], description="ordinary-marker"
        )
        secret = await record_incident(
            conn, home, "S04", "P0001", [RESTRICTED], named=["S08"], description="restricted-marker"
        )
        await resolve_alerts(conn, secret.event)  # the worker grants the named TA access
        await record_action(conn, home, ordinary.id, "S02", "action-marker")
        await record_action(conn, home, secret.id, "S04", "secret-action")
        away.incidents["other"] = (
            await record_incident(
                conn, away, "S06", "P0001", [BEHAVIOUR], description="away-marker"
            )
        ).id
        home.incidents.update(ordinary=ordinary.id, secret=secret.id)
    return home, away


@pytest.fixture
async def client(settings, schools):
    async with staff_app(settings) as c:
        yield c


async def signed_in(client, school, staff):
    browser = Browser(client)
    assert (await browser.login(school.emails[staff], PASSWORD)).status == 201
    return browser


async def enrol(browser, name="phone"):
    response = await browser.request("POST", "/v1/me/totp")
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["provisioning_uri"].startswith("otpauth://totp/Beacon:")
    assert body["qr_svg"].startswith("<svg")
    code = totp.code_at(body["secret"], totp.current_step())
    confirmed = await browser.request(
        "POST", "/v1/me/totp/confirm", {"code": code, "device_name": name}
    )
    assert confirmed.status == 204
    return body["secret"], code


def next_code(secret):
    return totp.code_at(secret, totp.current_step() + 1)


async def test_enrol_elevate_and_replay(client, schools, pg):
    home, _ = schools
    dsl = await signed_in(client, home, "S04")
    secret, first_code = await enrol(dsl)
    # The confirming code is spent; so is any code once used.
    assert (await dsl.request("POST", "/v1/session/elevate", {"code": first_code})).status == 401
    before = dsl.cookie
    code = next_code(secret)
    response = await dsl.request("POST", "/v1/session/elevate", {"code": code})
    assert response.status == 200 and (await response.json())["elevated"] is True
    assert dsl.cookie != before  # rotated at elevation
    stale = Browser(dsl.client)
    stale.cookie, stale.csrf = before, dsl.csrf
    assert (await stale.request("GET", "/v1/me/totp")).status == 401
    again = await dsl.request("POST", "/v1/session/elevate", {"code": code})
    assert again.status == 401
    async with pg.acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM audit_log WHERE school_id = $1 ORDER BY seq", home.id
            )
        ]
    assert actions == [
        "login.success",
        "totp.enrol_started",
        "totp.device_added",
        "session.elevate.failure",
        "session.elevate",
        "session.elevate.failure",
    ]


async def test_a_second_device_needs_elevation(client, schools):
    home, _ = schools
    teacher = await signed_in(client, home, "S06")
    secret, _ = await enrol(teacher)
    assert (await teacher.request("POST", "/v1/me/totp")).status == 403
    await teacher.request("POST", "/v1/session/elevate", {"code": next_code(secret)})
    await enrol(teacher, "tablet")
    devices = await (await teacher.request("GET", "/v1/me/totp")).json()
    assert [d["name"] for d in devices] == ["phone", "tablet"]


async def test_devices_are_removed_by_admin_elevated_not_by_a_colleague(client, schools):
    home, _ = schools
    teacher = await signed_in(client, home, "S06")
    await enrol(teacher)
    (device,) = await (await teacher.request("GET", "/v1/me/totp")).json()
    path = f"/v1/staff/S06/totp/{device['id']}"
    colleague = await signed_in(client, home, "S07")
    colleague_secret, _ = await enrol(colleague)
    await colleague.request("POST", "/v1/session/elevate", {"code": next_code(colleague_secret)})
    assert (await colleague.request("DELETE", path)).status == 404
    admin = await signed_in(client, home, "S09")
    assert (await admin.request("DELETE", path)).status == 404  # not elevated yet
    admin_secret, _ = await enrol(admin)
    await admin.request("POST", "/v1/session/elevate", {"code": next_code(admin_secret)})
    assert (await admin.request("DELETE", path)).status == 204
    assert (await admin.request("DELETE", path)).status == 404
    # The lost device is gone, and so is every session of its owner (it may have been stolen
    # with the phone): the teacher signs in again and has no device.
    assert (await teacher.request("GET", "/v1/me/totp")).status == 401
    teacher = await signed_in(client, home, "S06")
    assert await (await teacher.request("GET", "/v1/me/totp")).json() == []


async def test_totp_at_login_when_the_school_asks_for_it(client, schools, pg):
    home, _ = schools
    async with pg.acquire() as conn:
        await conn.execute(
            "INSERT INTO school_access_settings (school_id, totp_at_login) VALUES ($1, true)",
            home.id,
        )
    first = Browser(client)
    response = await first.login(home.emails["S03"], PASSWORD)
    assert response.status == 201 and (await response.json())["enrol_only"] is True
    assert (await first.request("GET", "/v1/pupils/P0001/chronology")).status == 403
    secret, _ = await enrol(first)
    assert (await first.request("GET", "/v1/pupils/P0001/chronology")).status == 200
    later = Browser(client)
    missing = await later.login(home.emails["S03"], PASSWORD)
    assert missing.status == 401 and (await missing.json())["totp_required"] is True
    ok = await later.login(home.emails["S03"], PASSWORD, next_code(secret))
    assert ok.status == 201 and (await ok.json())["elevated"] is True


def kinds_and_text(entries):
    return [(e["kind"], e["description"]) for e in entries]


async def test_chronology_for_a_teacher_omits_restricted_entries_entirely(client, schools, pg):
    home, _ = schools
    teacher = await signed_in(client, home, "S06")  # teaches C3: P0001 and P0003
    response = await teacher.request("GET", "/v1/pupils/P0001/chronology")
    assert response.status == 200
    text = await response.text()
    assert "restricted-marker" not in text and "secret-action" not in text
    assert str(home.incidents["secret"]) not in text
    assert kinds_and_text(await response.json()) == [
        ("incident", "ordinary-marker"),
        ("action", "action-marker"),
    ]
    assert (await teacher.request("GET", "/v1/pupils/P0002/chronology")).status == 404
    assert (await teacher.request("GET", "/v1/pupils/P9999/chronology")).status == 404
    async with pg.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'chronology.view'")
    assert row["actor_staff_id"] == home.staff["S06"]
    assert row["subject_id"] == str(home.pupils["P0001"])


async def test_named_ta_sees_the_restricted_incident(client, schools):
    home, _ = schools
    ta = await signed_in(client, home, "S08")
    entries = await (await ta.request("GET", "/v1/pupils/P0001/chronology")).json()
    assert {e["description"] for e in entries} >= {"restricted-marker", "secret-action"}


async def test_dsl_sees_everything_only_once_elevated(client, schools):
    home, _ = schools
    dsl = await signed_in(client, home, "S04")  # DSL and teacher of no class
    assert (await dsl.request("GET", "/v1/pupils/P0001/chronology")).status == 404
    secret, _ = await enrol(dsl)
    await dsl.request("POST", "/v1/session/elevate", {"code": next_code(secret)})
    entries = await (await dsl.request("GET", "/v1/pupils/P0001/chronology")).json()
    assert [e["kind"] for e in entries].count("incident") == 2
    assert len(entries) == 4
    times = [e["at"] for e in entries]
    assert times == sorted(times)


async def test_nobody_sees_another_school(client, schools, pg):
    home, away = schools
    dsl = await signed_in(client, away, "S04")
    secret, _ = await enrol(dsl)
    await dsl.request("POST", "/v1/session/elevate", {"code": next_code(secret)})
    entries = await (await dsl.request("GET", "/v1/pupils/P0001/chronology")).json()
    assert kinds_and_text(entries) == [("incident", "away-marker")]  # its own P0001 only
    async with pg.acquire() as conn:
        home_key = await create_api_key(conn, home.id, "mis")
        away_key = await create_api_key(conn, away.id, "mis")
    # No API key reads a chronology, its own school's or another's.
    for key in (home_key, away_key):
        as_key = await dsl.client.get(
            "/v1/pupils/P0001/chronology", headers={"Authorization": f"Bearer {key}"}
        )
        assert as_key.status == 403
        assert "ordinary-marker" not in await as_key.text()
    bad = await dsl.client.get(
        "/v1/pupils/P0001/chronology", headers={"Authorization": "Bearer bk_nope"}
    )
    assert bad.status == 401


@pytest.mark.parametrize("field", ["email", "password"])
async def test_sql_injection_strings_are_just_text(client, schools, field, pg):
    home, _ = schools
    body = {"email": home.emails["S06"], "password": PASSWORD}
    body[field] = "x' OR '1'='1'; DROP TABLE staff; --"
    response = await client.post("/v1/session", json=body)
    assert response.status == 401
    assert (await Browser(client).login(home.emails["S06"], PASSWORD)).status == 201
    injected = await client.post("/v1/password-reset", json={"email": "' OR 1=1 --"})
    assert injected.status == 202
    # The string matched nobody (a link is stored before the 202) and dropped nothing.
    assert await pg.fetchval("SELECT count(*) FROM password_reset_tokens") == 0
    assert await pg.fetchval("SELECT count(*) FROM staff") == 2 * len(home.staff)


async def test_the_chronology_is_paged_with_a_maximum(client, schools, pg):
    """No unbounded list: per_page is cut to the maximum, the other pages are in Link, and
    paging through gives every entry once, in order."""
    home, _ = schools
    async with pg.acquire() as conn:
        for n in range(5):
            await record_incident(conn, home, "S06", "P0001", [BEHAVIOUR], description=f"n{n}")
    teacher = await signed_in(client, home, "S06")
    whole = await (await teacher.request("GET", "/v1/pupils/P0001/chronology")).json()
    assert len(whole) == 7  # the ordinary incident, its action and five more
    seen, url = [], "/v1/pupils/P0001/chronology?per_page=3"
    while url:
        r = await teacher.request("GET", url)
        assert r.status == 200
        page = await r.json()
        assert len(page) <= 3
        seen += page
        found = re.findall(r'<([^>]+)>; rel="next"', r.headers.get("Link", ""))
        url = found[0] if found else ""
    assert [e["id"] for e in seen] == [e["id"] for e in whole]
    r = await teacher.request("GET", "/v1/pupils/P0001/chronology?per_page=100000")
    assert r.status == 200 and len(await r.json()) == 7  # cut to the maximum, not refused
    r = await teacher.request("GET", "/v1/pupils/P0001/chronology?page=0")
    assert r.status == 422 and (await r.json())["field"] == "page"
