"""Helpers for the admin tests: a member of staff signed in, enrolled and elevated through the
real JSON API, and page forms posted with their session cookie and CSRF token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from shared.auth import totp
from shared.auth.sessions import COOKIE
from shared.config import Settings
from tests.staff.client import Browser, staff_app

PASSWORD = "Kettle-Drum-93!"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    """The real ingest app (create_app), rate limits off; import it into a test module."""
    async with staff_app(settings) as c:
        yield c


async def signed_in(client: Any, email: str, password: str = PASSWORD) -> Browser:
    browser = Browser(client)
    response = await browser.login(email, password)
    assert response.status == 201, await response.text()
    return browser


async def elevated(client: Any, email: str, password: str = PASSWORD) -> Browser:
    """Signed in, an authenticator enrolled, and elevated with its next code."""
    browser = await signed_in(client, email, password)
    response = await browser.request("POST", "/v1/me/totp")
    assert response.status == 201, await response.text()
    secret = (await response.json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    confirmed = await browser.request(
        "POST", "/v1/me/totp/confirm", {"code": code, "device_name": "Work phone"}
    )
    assert confirmed.status == 204, await confirmed.text()
    up = await browser.request(
        "POST", "/v1/session/elevate", {"code": totp.code_at(secret, totp.current_step() + 1)}
    )
    assert up.status == 200, await up.text()
    return browser


async def page(browser: Browser, path: str) -> ClientResponse:
    return await browser.client.get(
        path, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )


async def post_form(
    browser: Browser,
    path: str,
    fields: dict[str, str] | None = None,
    files: dict[str, bytes] | None = None,
) -> ClientResponse:
    """A page's form, as the browser posts it (multipart when there are files)."""
    data = aiohttp.FormData()
    data.add_field("csrf_token", browser.csrf or "")
    for k, v in (fields or {}).items():
        data.add_field(k, v)
    for k, content in (files or {}).items():
        data.add_field(k, content, filename=f"{k}.csv", content_type="text/csv")
    if not files:
        data = aiohttp.FormData({"csrf_token": browser.csrf or "", **(fields or {})})
    return await browser.client.post(
        path, data=data, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )
