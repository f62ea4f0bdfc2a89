"""The real ingest app (which carries the staff routes), and a browser-like client that keeps
the session cookie.

The cookie is `Secure`, which aiohttp's cookie jar will not send over the tests' plain HTTP,
so the client keeps it by hand (which also lets tests plant a cookie, as an attacker would).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from shared.auth.sessions import COOKIE
from shared.config import Settings


@asynccontextmanager
async def staff_app(settings: Settings, idle_seconds: int = 600) -> AsyncIterator[TestClient]:
    """`beacon ingest`'s app, as built from Settings (rate limit off: tested on its own)."""
    app = create_app(
        dataclasses.replace(settings, session_idle_seconds=idle_seconds, api_key_rate=0)
    )
    async with TestClient(TestServer(app)) as client:
        yield client


class Browser:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.cookie: str | None = None
        self.csrf: str | None = None

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
    ) -> ClientResponse:
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            sent["X-CSRF-Token"] = self.csrf
        response = await self.client.request(method, path, json=json, headers=sent)
        if COOKIE in response.cookies:
            self.cookie = response.cookies[COOKIE].value or None
        return response

    async def login(self, email: str, password: str, code: str | None = None) -> ClientResponse:
        body = {"email": email, "password": password} | ({"code": code} if code else {})
        response = await self.request("POST", "/v1/session", body)
        if response.status == 201:
            self.csrf = (await response.json())["csrf_token"]
        return response
