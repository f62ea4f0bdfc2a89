"""Guessing in bursts: concurrent bad passwords and bad authenticator codes are counted before
they are checked, so a burst gets no more guesses than one attempt after another would; a
school behind one NAT address is not locked out by its own typos; X-Forwarded-For counts only
from a configured proxy.

Guesses evaluated are counted from the audit log: each password or code actually checked and
found wrong writes one row ("login.failure", "session.elevate.failure")."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from shared.auth import totp
from shared.auth.throttle import LIMITS
from shared.config import Settings
from tests.staff.client import Browser
from tests.support.until import until
from tests.support.world import School, seed_school, set_passwords

PASSWORD = "Kettle-Drum-93!"
BURST = 50
FREE = {lim.name: lim.free for lim in LIMITS}


def allowance(name: str, seconds: float) -> int:
    """What one attempt after another gets in `seconds`: the free ones, one more that sets the
    first lock (1 s), and one each time a lock (doubling) runs out."""
    return FREE[name] + 1 + int(math.log2(1 + seconds))


@pytest.fixture
def burst_settings(settings: Settings) -> Settings:
    # The staff lane's budget is raised so the door admits the whole burst: the throttle, not
    # the door, must be what stops it.
    return dataclasses.replace(
        settings,
        api_key_rate=0,
        ingest_staff_max_in_flight=BURST * 2,
        trusted_proxies=("127.0.0.1",),
    )


@pytest.fixture
async def client(burst_settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(burst_settings))) as c:
        yield c


@pytest.fixture
async def school(pg: asyncpg.Pool) -> School:
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        await set_passwords(conn, school, PASSWORD)
    return school


async def evaluated(pg: asyncpg.Pool, action: str) -> int:
    return await pg.fetchval("SELECT count(*) FROM audit_log WHERE action = $1", action)


async def burst_of_logins(
    client: TestClient, email: str, forwarded: bool
) -> tuple[Counter[int], float]:
    async def guess(i: int) -> int:
        headers = {"X-Forwarded-For": f"198.51.100.{i + 1}"} if forwarded else {}
        r = await client.post(
            "/v1/session", json={"email": email, "password": f"guess-{i}"}, headers=headers
        )
        return r.status

    started = time.monotonic()
    statuses = Counter(await asyncio.gather(*(guess(i) for i in range(BURST))))
    return statuses, time.monotonic() - started


async def test_a_burst_of_bad_passwords_gets_no_more_guesses_than_designed(client, school, pg):
    statuses, seconds = await burst_of_logins(client, school.emails["S06"], forwarded=False)
    guesses = await evaluated(pg, "login.failure")
    print(f"\n{BURST} bad logins, one address: {guesses} evaluated in {seconds:.2f} s")
    assert guesses <= allowance("account-address", seconds)
    assert statuses[401] == guesses and statuses[429] == BURST - guesses


async def test_a_burst_from_many_addresses_meets_the_account_limit(client, school, pg):
    statuses, seconds = await burst_of_logins(client, school.emails["S06"], forwarded=True)
    guesses = await evaluated(pg, "login.failure")
    print(f"\n{BURST} bad logins, {BURST} addresses: {guesses} evaluated in {seconds:.2f} s")
    assert guesses <= allowance("account", seconds)
    assert statuses[401] == guesses


async def test_the_right_password_clears_the_accounts_counters(client, school, pg):
    email = school.emails["S06"]
    await burst_of_logins(client, email, forwarded=False)

    async def signed_in() -> bool:
        r = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
        return r.status == 201

    await until(signed_in, 5, "the real user never got back in")
    before = await evaluated(pg, "login.failure")
    for i in range(FREE["account-address"]):
        r = await client.post("/v1/session", json={"email": email, "password": f"typo-{i}"})
        assert r.status == 401  # a fresh allowance, not a lock left over from the burst
    assert await evaluated(pg, "login.failure") == before + FREE["account-address"]


async def test_a_schools_typos_behind_one_nat_address_do_not_lock_the_school_out(client, school):
    # Forty colleagues behind the school's one address each mistype once (or a pupil on the
    # school's network sprays forty addresses): the per-address limit must not shut everyone out.
    for i in range(40):
        r = await client.post(
            "/v1/session", json={"email": f"someone{i}@school.example", "password": "typo"}
        )
        assert r.status == 401
    r = await client.post("/v1/session", json={"email": school.emails["S07"], "password": PASSWORD})
    assert r.status == 201, await r.text()


async def test_forwarded_for_counts_only_from_a_trusted_proxy(settings, school, pg):
    untrusted = dataclasses.replace(settings, api_key_rate=0, ingest_staff_max_in_flight=BURST * 2)
    async with TestClient(TestServer(create_app(untrusted))) as c:
        statuses, seconds = await burst_of_logins(c, school.emails["S06"], forwarded=True)
    # Without a trusted proxy, a forged header is ignored: all fifty came from 127.0.0.1.
    guesses = await evaluated(pg, "login.failure")
    assert guesses <= allowance("account-address", seconds)
    assert statuses[429] == BURST - guesses
    ips = {r["ip"] for r in await pg.fetch("SELECT DISTINCT host(ip) AS ip FROM audit_log")}
    assert ips == {"127.0.0.1"}


async def enrolled(client: TestClient, school: School) -> tuple[Browser, str]:
    browser = Browser(client)
    assert (await browser.login(school.emails["S06"], PASSWORD)).status == 201
    started = await browser.request("POST", "/v1/me/totp")
    secret = (await started.json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    confirmed = await browser.request(
        "POST", "/v1/me/totp/confirm", {"code": code, "device_name": "phone"}
    )
    assert confirmed.status == 204
    return browser, secret


def wrong_code(secret: str) -> str:
    step = totp.current_step()
    valid = {totp.code_at(secret, step + d) for d in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


async def test_a_burst_of_bad_codes_gets_no_more_guesses_than_designed(client, school, pg):
    browser, secret = await enrolled(client, school)
    code = wrong_code(secret)
    started = time.monotonic()
    responses = await asyncio.gather(
        *(browser.request("POST", "/v1/session/elevate", {"code": code}) for _ in range(BURST))
    )
    seconds = time.monotonic() - started
    statuses = Counter(r.status for r in responses)
    guesses = await evaluated(pg, "session.elevate.failure")
    print(f"\n{BURST} bad codes: {guesses} evaluated in {seconds:.2f} s, {dict(statuses)}")
    assert guesses <= allowance("account-address", seconds)
    assert statuses[401] == guesses and statuses[429] == BURST - guesses
