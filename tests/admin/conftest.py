"""The real ingest app (create_app) with two schools of the one test world, every member of
staff able to sign in; browsers signed in as the school's admin (S09), elevated or not, as a
teacher, and as the other school's admin."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import FormData

from shared.auth import totp
from shared.auth.sessions import COOKIE
from tests.ingest.conftest import ADMIN
from tests.staff.client import Browser, staff_app
from tests.support.world import School, seed_school, set_passwords

PASSWORD = "Kettle-Drum-93!"
__all__ = ["ADMIN", "PASSWORD", "elevated", "get", "post", "signed_in"]


@pytest.fixture
async def schools(pg) -> tuple[School, School]:
    async with pg.acquire() as conn:
        home = await seed_school(conn)
        away = await seed_school(conn, "Elmwood Academy", email_domain="elmwood.example")
        for s in (home, away):
            await set_passwords(conn, s, PASSWORD)
    return home, away


@pytest.fixture
def school(schools) -> School:
    return schools[0]


@pytest.fixture
async def client(settings, schools):
    async with staff_app(settings) as c:
        yield c


async def signed_in(client: Any, school: School, staff: str) -> Browser:
    browser = Browser(client)
    assert (await browser.login(school.emails[staff], PASSWORD)).status == 201
    return browser


async def elevated(client: Any, school: School, staff: str = "S09") -> Browser:
    browser = await signed_in(client, school, staff)
    secret = (await (await browser.request("POST", "/v1/me/totp")).json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    confirm = {"code": code, "device_name": "phone"}
    assert (await browser.request("POST", "/v1/me/totp/confirm", confirm)).status == 204
    code = totp.code_at(secret, totp.current_step() + 1)
    assert (await browser.request("POST", "/v1/session/elevate", {"code": code})).status == 200
    return browser


@pytest.fixture
async def admin(client, school) -> Browser:
    return await elevated(client, school)


async def get(browser: Browser, path: str) -> Any:
    return await browser.client.get(
        path, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )


async def post(
    browser: Browser, path: str, fields: list[tuple[str, str]], files: tuple[Any, ...] = ()
) -> Any:
    """A page's form as the browser posts it, with the session's CSRF token."""
    pairs = [("csrf_token", browser.csrf or ""), *fields]
    data: Any = pairs
    if files:
        data = FormData(default_to_multipart=True)
        for name, value in pairs:
            data.add_field(name, value)
        for name, filename, content in files:
            data.add_field(name, content, filename=filename, content_type="text/calendar")
    return await browser.client.post(
        path, data=data, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )
