"""The ingest app in-process (the real create_app factory) against real PostgreSQL and Redis,
plus a school with the sample roster and an API key, created through the admin API."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from shared.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.roster import roster

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

AppFactory = Callable[..., AbstractAsyncContextManager[TestClient]]


@pytest.fixture
def ingest_settings(settings: Settings) -> Settings:
    # Rate limiting is tested on its own; elsewhere it would only make tests flaky.
    return dataclasses.replace(settings, api_key_rate=0)


@pytest.fixture
def start_app(ingest_settings: Settings) -> AppFactory:
    """`async with start_app(**overrides) as client:` a fresh app with changed settings."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[TestClient]:
        app = create_app(dataclasses.replace(ingest_settings, **overrides))
        async with TestClient(TestServer(app)) as client:
            yield client

    return start


@pytest.fixture
async def client(start_app: AppFactory) -> AsyncIterator[TestClient]:
    async with start_app() as c:
        yield c


@dataclass
class School:
    id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_school(
    client: TestClient, name: str = "Riverside Primary", with_roster: bool = True
) -> School:
    r = await client.post("/v1/schools", json={"name": name}, headers=ADMIN)
    assert r.status == 201, await r.text()
    school_id = (await r.json())["id"]
    r = await client.post(f"/v1/schools/{school_id}/api-keys", json={"name": "mis"}, headers=ADMIN)
    assert r.status == 201, await r.text()
    key = (await r.json())["key"]
    if with_roster:
        r = await client.put(f"/v1/schools/{school_id}/roster", json=roster(), headers=ADMIN)
        assert r.status == 200, await r.text()
    return School(id=school_id, key=key)


@pytest.fixture
async def school(client: TestClient) -> School:
    return await new_school(client)


def incident(**changes: Any) -> dict[str, Any]:
    """A valid incident by a teacher (S06) about P0001; override any field."""
    body: dict[str, Any] = {
        "author": "S06",
        "pupil": "P0001",
        "occurred_at": "2024-11-27T10:15:00Z",
        "description": "Bruise on left forearm noticed at morning register.",
        "categories": ["cause-for-concern/injury-bruise"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}
