"""Redis away (sessions and login throttling live there): staff requests answer 503 with
Retry-After, never a 500, and API-key records are still taken (PostgreSQL is the record)."""

from __future__ import annotations

import dataclasses

import pytest

from shared.auth import accounts
from shared.auth.passwords import hash_password
from tests.ingest.conftest import incident
from tests.staff.client import Browser, staff_app
from tests.support.redis_server import RedisServer
from tests.support.roster import STAFF
from tests.support.world import seed_school

PASSWORD = "Kettle-Drum-93!"


@pytest.fixture
def redis_server_of_our_own():
    server = RedisServer().start()
    yield server
    server.cleanup()


async def test_login_and_sessions_answer_503_while_redis_is_down(
    settings, pg, redis_server_of_our_own
):
    settings = dataclasses.replace(settings, redis_url=redis_server_of_our_own.url())
    async with staff_app(settings) as client:
        school = await seed_school(pg, "Riverside Primary")
        teacher = await pg.fetchrow("SELECT id, school_id FROM staff WHERE external_id = 'S06'")
        async with pg.acquire() as conn:
            await accounts.set_password_hash(
                conn, teacher["school_id"], teacher["id"], hash_password(PASSWORD)
            )
        email = next(s["email"] for s in STAFF if s["id"] == "S06")
        signed_in = Browser(client)
        assert (await signed_in.login(email, PASSWORD)).status == 201
        redis_server_of_our_own.stop()
        for response in (
            await Browser(client).login(email, PASSWORD),
            await signed_in.request("GET", "/v1/categories"),
            await client.post("/v1/password-reset", json={"email": email}),
        ):
            assert response.status == 503, await response.text()
            assert response.headers["Retry-After"]
            assert response.content_type == "application/problem+json"
        r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
        assert r.status == 201
