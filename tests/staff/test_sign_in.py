"""Password reset links, sign-in, sessions, CSRF and brute-force throttling, over HTTP."""

import re

import pytest

from shared.auth import accounts, sessions
from shared.auth.passwords import hash_password
from shared.web import REDIS
from tests.staff.client import Browser, staff_app
from tests.support.roster import STAFF
from tests.support.until import until
from tests.support.world import seed_school

PASSWORD = "Kettle-Drum-93!"
FINN = "finn.teacher@school.example"


@pytest.fixture
async def school(pg):
    async with pg.acquire() as conn:
        s = await seed_school(conn)
        await accounts.set_password_hash(conn, s.id, s.staff["S06"], hash_password(PASSWORD))
    return s


@pytest.fixture
async def client(settings, school):
    async with staff_app(settings) as c:
        yield c


def _link_token(sink, to):
    (msg,) = [m for m in sink.messages if to in m.recipients]
    text = msg.message.get_payload(0).get_payload(decode=True).decode()  # part 0: text/plain
    return msg, re.search(r"https://beacon\.school\.example/reset/([\w-]+)", text).group(1)


async def test_reset_link_sets_a_password_once_and_the_email_is_content_free(client, smtp_sink, pg):
    email = "gail.teacher@school.example"
    response = await client.post("/v1/password-reset", json={"email": email})
    assert response.status == 202
    await until(lambda: smtp_sink.messages)
    msg, token = _link_token(smtp_sink, email)
    raw = msg.data.decode()
    for s in STAFF:  # no names at all, not even the recipient's
        assert s["first_name"] not in raw and s["last_name"] not in raw
    assert "Oakfield" not in raw
    weak = await client.post(f"/v1/password-reset/{token}", json={"password": "password1"})
    assert weak.status == 422
    body = await weak.json()
    assert body["field"] == "password"
    assert set(body["rules"]) == {"uppercase", "symbol", "common_password"}
    ok = await client.post(f"/v1/password-reset/{token}", json={"password": "Oboe-Lantern-58"})
    assert ok.status == 204
    again = await client.post(f"/v1/password-reset/{token}", json={"password": "Oboe-Lantern-59"})
    assert again.status == 404
    assert (await Browser(client).login(email, "Oboe-Lantern-58")).status == 201
    async with pg.acquire() as conn:
        stored = await conn.fetchval("SELECT token_hash FROM password_reset_tokens")
    assert token.encode() not in stored


async def test_unknown_address_gets_the_same_answer_and_no_email(client, smtp_sink):
    response = await client.post("/v1/password-reset", json={"email": "nobody@school.example"})
    assert response.status == 202 and await response.json() == {}
    known = await client.post("/v1/password-reset", json={"email": FINN})
    assert known.status == 202 and await known.json() == {}
    await until(lambda: smtp_sink.messages)
    assert [m.recipients for m in smtp_sink.messages] == [[FINN]]


async def test_expired_link_is_refused(client, smtp_sink, pg):
    await client.post("/v1/password-reset", json={"email": FINN})
    await until(lambda: smtp_sink.messages)
    _, token = _link_token(smtp_sink, FINN)
    async with pg.acquire() as conn:
        await conn.execute("UPDATE password_reset_tokens SET expires_at = now() - interval '1s'")
    response = await client.post(
        f"/v1/password-reset/{token}", json={"password": "Oboe-Lantern-58"}
    )
    assert response.status == 404
    assert (
        await client.post("/v1/password-reset/not-a-token", json={"password": "Oboe-Lantern-58"})
    ).status == 404


async def test_sign_in_sets_a_strict_cookie(client, pg):
    browser = Browser(client)
    response = await browser.login(FINN.upper(), PASSWORD)
    assert response.status == 201
    body = await response.json()
    assert body["staff"] == "S06" and body["elevated"] is False and len(body["csrf_token"]) >= 32
    header = response.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attribute in header
    async with pg.acquire() as conn:
        actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log")]
    assert actions == ["login.success"]


async def test_wrong_password_and_unknown_address_answer_alike(client, pg):
    wrong = await Browser(client).login(FINN, "Not-The-Password-1")
    unknown = await Browser(client).login("nobody@school.example", PASSWORD)
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    assert "Set-Cookie" not in wrong.headers
    async with pg.acquire() as conn:
        failures = await conn.fetch(
            "SELECT school_id, detail FROM audit_log WHERE action = 'login.failure' ORDER BY id"
        )
    assert len(failures) == 2


async def test_login_rotates_a_planted_session_id(client):
    attacker = Browser(client)
    await attacker.login(FINN, PASSWORD)
    planted = attacker.cookie
    victim = Browser(client)
    victim.cookie = planted  # session fixation: the victim signs in carrying the attacker's id
    await victim.login(FINN, PASSWORD)
    assert victim.cookie != planted
    assert (await attacker.request("DELETE", "/v1/session")).status == 401


async def test_state_changes_need_the_csrf_token(client):
    browser = Browser(client)
    await browser.login(FINN, PASSWORD)
    assert (await browser.request("DELETE", "/v1/session", csrf=False)).status == 403
    bad = await browser.request(
        "DELETE", "/v1/session", csrf=False, headers={"X-CSRF-Token": "guess"}
    )
    assert bad.status == 403
    assert (await browser.request("DELETE", "/v1/session")).status == 204
    assert (await browser.request("DELETE", "/v1/session")).status == 401


async def test_guessing_is_slowed_for_known_and_unknown_addresses_alike(client):
    for email in (FINN, "nobody@school.example"):
        statuses = [(await Browser(client).login(email, f"Wrong-{i}!")).status for i in range(5)]
        assert statuses[:3] == [401, 401, 401]
        assert statuses[-1] == 429
        locked = await Browser(client).login(email, PASSWORD)
        assert locked.status == 429 and int(locked.headers["Retry-After"]) >= 1


async def test_session_ends_after_the_idle_timeout(settings, school):
    async with staff_app(settings, idle_seconds=1) as client:
        browser = Browser(client)
        await browser.login(FINN, PASSWORD)
        assert (await browser.request("GET", "/v1/me/totp")).status == 200
        # Watch Redis, not the API: each request is activity and would restart the timer.
        redis = client.app[REDIS]
        await until(lambda: _gone(redis, sessions._key(browser.cookie)), 4)
        assert (await browser.request("GET", "/v1/me/totp")).status == 401


async def _gone(redis, key):
    return not await redis.exists(key)


async def test_login_upgrades_a_hash_made_with_weaker_parameters(client, school, pg):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with pg.acquire() as conn:
        await accounts.set_password_hash(conn, school.id, school.staff["S06"], weak)
    assert (await Browser(client).login(FINN, PASSWORD)).status == 201
    async with pg.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT password_hash FROM staff_credentials WHERE staff_id = $1", school.staff["S06"]
        )
    assert stored != weak and "m=65536" in stored
    assert (await Browser(client).login(FINN, PASSWORD)).status == 201


async def test_setting_a_password_ends_every_session(client, smtp_sink):
    browser = Browser(client)
    await browser.login(FINN, PASSWORD)
    await client.post("/v1/password-reset", json={"email": FINN})
    await until(lambda: smtp_sink.messages)
    _, token = _link_token(smtp_sink, FINN)
    assert (
        await client.post(f"/v1/password-reset/{token}", json={"password": "Oboe-Lantern-58"})
    ).status == 204
    assert (await browser.request("GET", "/v1/me/totp")).status == 401
    assert (await Browser(client).login(FINN, PASSWORD)).status == 401


async def test_bodies_must_be_json_objects(client):
    assert (await client.post("/v1/session", data="email=x")).status == 415
    assert (await client.post("/v1/session", json=["x"])).status == 400
    assert (await client.post("/v1/session", json={"email": 5, "password": "x"})).status == 422
