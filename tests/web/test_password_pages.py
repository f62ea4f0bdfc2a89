"""The password pages are forms that work without JavaScript: asking for a link answers alike
for any address, and a link sets a password once, naming a rule it breaks."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from shared.auth import accounts
from shared.config import Settings
from tests.support import world
from tests.support.until import until


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    app = create_app(dataclasses.replace(settings, api_key_rate=0))
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_asking_for_a_link_answers_alike_and_sends_it_after(
    client, pg: asyncpg.Pool, smtp_sink
) -> None:
    async with pg.acquire() as conn:
        school = await world.seed_school(conn)
    known = await client.post("/reset", data={"email": school.emails["S06"]})
    unknown = await client.post("/reset", data={"email": "nobody@school.example"})
    assert known.status == unknown.status == 200
    assert "a link is on its way" in await known.text()
    assert "a link is on its way" in await unknown.text()
    await until(lambda: len(smtp_sink.messages) == 1, 10)
    assert smtp_sink.messages[0].recipients == [school.emails["S06"]]


async def test_an_empty_address_is_named(client) -> None:
    r = await client.post("/reset", data={"email": ""})
    assert r.status == 400
    html = await r.text()
    assert 'href="#email"' in html and "Enter your school email address" in html


async def test_a_link_sets_a_password_once_and_names_a_broken_rule(client, pg) -> None:
    async with pg.acquire() as conn:
        school = await world.seed_school(conn)
        token = await accounts.create_reset_token(conn, school.id, school.staff["S06"], 30)
    weak = await client.post(f"/reset/{token}", data={"password": "password", "again": "password"})
    assert weak.status == 400 and "breaks these rules" in await weak.text()
    differ = await client.post(
        f"/reset/{token}", data={"password": "Kettle-Drum-93!", "again": "Kettle-Drum-94!"}
    )
    assert differ.status == 400 and "not the same" in await differ.text()
    done = await client.post(
        f"/reset/{token}", data={"password": "Kettle-Drum-93!", "again": "Kettle-Drum-93!"}
    )
    assert done.status == 200 and "Password set" in await done.text()
    again = await client.post(
        f"/reset/{token}", data={"password": "Kettle-Drum-93!", "again": "Kettle-Drum-93!"}
    )
    assert again.status == 400 and "not valid" in await again.text()
    r = await client.post(
        "/login",
        data={"email": school.emails["S06"], "password": "Kettle-Drum-93!"},
        allow_redirects=False,
    )
    assert r.status == 303
