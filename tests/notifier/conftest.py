from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from services.notifier.engine import Engine, build_engine
from shared.config import Settings
from tests.support.world import School, seed_school


@pytest.fixture
async def school(pg: asyncpg.Pool) -> School:
    async with pg.acquire() as conn:
        return await seed_school(conn)


@pytest.fixture
async def make_engine(settings: Settings, pg: asyncpg.Pool) -> AsyncIterator[Callable[..., Engine]]:
    """Engines as `beacon notifier` builds them (`build_engine`), with options a test may
    shorten; each is started by the test with `async with engine.running()`."""

    def make(settings_: Settings = settings, **options: object) -> Engine:
        engine = build_engine(settings_, pg)
        if options:
            engine.options = dataclasses.replace(engine.options, **options)  # type: ignore[arg-type]
        return engine

    yield make
