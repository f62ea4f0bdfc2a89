"""The ingest app in-process (the real create_app factory) against real PostgreSQL and Redis,
plus a school of the one test world (tests/support/world.py): the sample roster and an API
key."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from shared.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.world import School, seed_school

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


@pytest.fixture
async def school(pg: asyncpg.Pool) -> School:
    return await seed_school(pg, "Riverside Primary")


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
