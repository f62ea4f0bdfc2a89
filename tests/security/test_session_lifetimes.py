"""How long a stolen or forgotten staff session lasts, from the attacker's side.

A session dies after `BEACON_SESSION_MAX_SECONDS` however busy it is kept; elevation lapses after
`BEACON_ELEVATION_SECONDS`; and a password reset, a leaver in the roster import, or a removed
authenticator ends every session of that person for certain: even one the per-staff index in
Redis lost (it used to expire after a day while busy sessions lived on).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared.auth import accounts, totp
from shared.config import Settings
from shared.web import REDIS
from tests.conftest import ADMIN_TOKEN
from tests.security.conftest import EMAILS, World
from tests.staff.client import Browser
from tests.support.redis_sentinel import SentinelSet

BEACON = str(Path(sys.executable).with_name("beacon"))
NEW_PASSWORD = "Quartz-Harbour-77!"


@pytest.fixture
def security_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The security world's settings, with this test's lifetimes (indirect parametrize)."""
    return dataclasses.replace(settings, api_key_rate=0, **getattr(request, "param", {}))


def lifetimes(**limits: int) -> Any:
    return pytest.mark.parametrize("security_settings", [limits], indirect=True)


def session_key(browser: Browser) -> str:
    assert browser.cookie
    return "beacon:session:" + hashlib.sha256(browser.cookie.encode()).hexdigest()


def redis(world: World) -> Any:
    return world.ingest.app[REDIS]


async def alive(browser: Browser) -> bool:
    status = (await browser.request("GET", "/v1/categories")).status
    assert status in (200, 401), status
    return status == 200


async def enrol(browser: Browser) -> str:
    r = await browser.request("POST", "/v1/me/totp")
    assert r.status == 201, await r.text()
    secret: str = (await r.json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    confirmed = await browser.request("POST", "/v1/me/totp/confirm", {"code": code})
    assert confirmed.status == 204
    return secret


async def elevate(browser: Browser, secret: str) -> None:
    code = totp.code_at(secret, totp.current_step() + 1)
    r = await browser.request("POST", "/v1/session/elevate", {"code": code})
    assert r.status == 200, await r.text()


# -- absolute lifetime ----------------------------------------------------------------------


@lifetimes(session_max_seconds=3)
async def test_a_session_kept_busy_still_ends_at_its_absolute_lifetime(world: World) -> None:
    teacher = await world.browser("S06")  # idle timeout 600 s: only the lifetime can end it
    signed_in = time.monotonic()
    deadline = signed_in + 10
    while await alive(teacher):
        ttl = await redis(world).pttl(session_key(teacher))
        assert 0 < ttl <= 3000, f"the Redis TTL ({ttl} ms) outlives the session's lifetime"
        assert time.monotonic() < deadline, "the session outlived its absolute lifetime"
        await asyncio.sleep(0.25)  # a request every quarter second: never idle
    assert time.monotonic() - signed_in >= 2.5
    assert await redis(world).exists(session_key(teacher)) == 0


@lifetimes(session_max_seconds=60)
async def test_rotation_does_not_restart_the_lifetime(world: World) -> None:
    dsl = await world.browser("S04")
    key = session_key(dsl)
    stored = json.loads(await redis(world).get(key))
    stored["created"] -= 57  # signed in 57 s ago: 3 s left
    await redis(world).set(key, json.dumps(stored), ex=60)
    await elevate(dsl, await enrol(dsl))  # a new id, the same sign-in
    assert 0 < await redis(world).pttl(session_key(dsl)) <= 3000
    deadline = time.monotonic() + 6
    while await alive(dsl):
        assert time.monotonic() < deadline, "rotation restarted the session's lifetime"
        await asyncio.sleep(0.25)


# -- elevation lapses -----------------------------------------------------------------------


@lifetimes(elevation_seconds=1)
async def test_elevation_lapses_after_its_lifetime(world: World) -> None:
    dsl = await world.browser("S04")
    await elevate(dsl, await enrol(dsl))
    restricted = f"/v1/incidents/{world.home.incidents['restricted']}"
    on_notifier = world.on_notifier(dsl)
    assert (await dsl.request("GET", restricted)).status == 200
    assert (await on_notifier.request("GET", f"{restricted}/alerts")).status == 200
    await asyncio.sleep(1.2)
    assert (await dsl.request("GET", restricted)).status == 404  # as if never elevated
    assert (await on_notifier.request("GET", f"{restricted}/alerts")).status == 404
    assert await alive(dsl)  # still signed in: only the elevation lapsed


# -- the index of a person's sessions -------------------------------------------------------


@lifetimes(session_max_seconds=200_000)
async def test_the_index_of_a_persons_sessions_outlives_every_session(world: World) -> None:
    teacher = await world.browser("S06")
    index = f"beacon:staff-sessions:{world.home.staff['S06']}"
    assert await redis(world).ttl(index) >= 200_000 - 5
    assert await redis(world).ttl(index) >= await redis(world).ttl(session_key(teacher))


async def test_dead_sessions_are_pruned_from_the_index(world: World) -> None:
    browsers = [await world.browser("S06") for _ in range(3)]
    for b in browsers[:2]:
        await redis(world).delete(session_key(b))  # as the idle timeout does
    newest = await world.browser("S06")
    index = f"beacon:staff-sessions:{world.home.staff['S06']}"
    members = {m.decode() for m in await redis(world).smembers(index)}
    assert members == {session_key(browsers[2]), session_key(newest)}


# -- ending every session of a person -------------------------------------------------------


async def test_a_password_reset_ends_sessions_the_index_lost(world: World) -> None:
    stolen = [await world.browser("S06"), await world.browser("S06")]
    await redis(world).delete(f"beacon:staff-sessions:{world.home.staff['S06']}")
    async with world.pg.acquire() as conn:
        token = await accounts.create_reset_token(conn, world.home.id, world.home.staff["S06"], 30)
    r = await world.ingest.post(f"/v1/password-reset/{token}", json={"password": NEW_PASSWORD})
    assert r.status == 204, await r.text()
    for b in stolen:
        assert not await alive(b), "a session from before the reset survived it"
        on_notifier = world.on_notifier(b)
        assert (await on_notifier.request("GET", "/v1/staff/S06/alerts")).status == 401
    fresh = Browser(world.ingest)
    assert (await fresh.login(EMAILS["S06"], NEW_PASSWORD)).status == 201
    assert await alive(fresh)


def _roster_without(world: World, leaver: str) -> dict[str, Any]:
    payload = json.loads(json.dumps(world.home.imported))
    payload["staff"] = [s for s in payload["staff"] if s["id"] != leaver]
    for c in payload["classes"]:
        c["teachers"] = [t for t in c["teachers"] if t != leaver]
    return payload


async def test_a_leaver_in_the_roster_import_is_signed_out_everywhere(world: World) -> None:
    assistant = await world.browser("S08")
    missed = await world.browser("S08")
    await redis(world).srem(f"beacon:staff-sessions:{world.home.staff['S08']}", session_key(missed))
    stays = await world.browser("S06")
    r = await world.ingest.put(
        f"/v1/schools/{world.home.id}/roster",
        json=_roster_without(world, "S08"),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert r.status == 200, await r.text()
    assert not await alive(assistant) and not await alive(missed)
    assert await alive(stays)


async def test_beacon_admin_import_signs_leavers_out(
    world: World, security_settings: Settings, tmp_path: Path
) -> None:
    await _import_without_s08(
        world, security_settings.database_url, security_settings.redis_url, tmp_path
    )


async def test_beacon_admin_import_signs_leavers_out_through_sentinel(
    world: World, security_settings: Settings, tmp_path: Path
) -> None:
    """A deployment whose REDIS_URL names a Sentinel set: the leaver's sessions still end
    (the command once built a plain client and refused the URL, leaving them signed in)."""
    redis_url = urlsplit(security_settings.redis_url)
    assert redis_url.port is not None
    sentinels = SentinelSet(redis_url.port).start()
    try:
        url = sentinels.url(db=int(redis_url.path.strip("/") or 0))
        await _import_without_s08(world, security_settings.database_url, url, tmp_path)
    finally:
        sentinels.cleanup()


async def _import_without_s08(
    world: World, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    assistant = await world.browser("S08")
    file = tmp_path / "roster.json"
    file.write_text(json.dumps(_roster_without(world, "S08")))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [BEACON, "admin", "import", str(world.home.id), str(file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["staff"] == 8
    assert not await alive(assistant)


async def test_removing_a_persons_authenticator_signs_them_out_everywhere(world: World) -> None:
    teacher = await world.browser("S06")
    await enrol(teacher)
    elsewhere = await world.browser("S06")
    await redis(world).delete(f"beacon:staff-sessions:{world.home.staff['S06']}")
    (device,) = await (await teacher.request("GET", "/v1/me/totp")).json()
    admin = await world.browser("S09")
    await elevate(admin, await enrol(admin))
    r = await admin.request("DELETE", f"/v1/staff/S06/totp/{device['id']}")
    assert r.status == 204
    assert not await alive(teacher) and not await alive(elsewhere)
    assert await alive(admin)
