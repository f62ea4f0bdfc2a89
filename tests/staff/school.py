"""The staff pages' tests (tests/web, being written) still import make_school from here: it is
the one test world's seed_school under its old name, returning the one School type."""

from __future__ import annotations

import asyncpg

from tests.support.world import School, seed_school


async def make_school(
    conn: asyncpg.Connection, name: str = "Oakfield Primary School", **options: str
) -> School:
    return await seed_school(conn, name, **options)  # type: ignore[arg-type]
