"""Attack: incident references counted across every school on a deployment, so a school's MIS
posting two incidents a day apart learnt from the gap how many incidents all other schools had
recorded in between (a volume of safeguarding concerns that is theirs, not its).

References are now numbered per school (migration 0018_references_per_school.sql: a counter
row per school, UNIQUE (school_id, reference)); the recording statement takes the next number
itself, and neither a refused request nor an Idempotency-Key replay uses one up.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared import database
from tests.ingest.conftest import incident
from tests.security.conftest import World
from tests.support.databases import create_database, drop_database
from tests.support.world import record_incident, seed_school


def key(school) -> dict[str, str]:
    return {"Authorization": f"Bearer {school.key}"}


async def references(pg: asyncpg.Pool, school_id: uuid.UUID) -> list[int]:
    rows = await pg.fetch(
        "SELECT reference FROM incidents WHERE school_id = $1 ORDER BY recorded_at, reference",
        school_id,
    )
    return [r["reference"] for r in rows]


async def post(world: World, school, **changes) -> int:
    r = await world.ingest.post("/v1/incidents", json=incident(**changes), headers=key(school))
    assert r.status == 201, await r.text()
    return int((await r.json())["reference"])


async def test_two_schools_each_count_1_2_3(world: World) -> None:
    # The world recorded 3 incidents at home and 1 away before this test.
    assert await references(world.pg, world.home.id) == [1, 2, 3]
    assert await references(world.pg, world.away.id) == [1]
    got = {"home": [], "away": []}
    for _ in range(3):  # interleaved: the away school's numbers ignore the home school's
        got["home"].append(await post(world, world.home))
        got["away"].append(await post(world, world.away))
        got["home"].append(await post(world, world.home))
    assert got == {"home": [4, 5, 6, 7, 8, 9], "away": [2, 3, 4]}
    # Quoted in the API and pages as before, now unique only within the school.
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=key(world.away))
    assert (await r.json())["reference"] == 5


async def test_concurrent_recordings_of_one_school_take_distinct_consecutive_numbers(
    world: World,
) -> None:
    before = len(await references(world.pg, world.home.id))
    got = await asyncio.gather(*(post(world, world.home) for _ in range(30)))
    assert sorted(got) == list(range(before + 1, before + 31))


async def test_refusals_and_replays_take_no_number(world: World) -> None:
    first = await post(world, world.home)
    r = await world.ingest.post(
        "/v1/incidents", json=incident(pupil="P9999"), headers=key(world.home)
    )
    assert r.status == 422
    replayed = {**key(world.home), "Idempotency-Key": "mis-7"}
    r = await world.ingest.post("/v1/incidents", json=incident(), headers=replayed)
    assert r.status == 201
    keyed = (await r.json())["reference"]
    for _ in range(3):
        again = await world.ingest.post("/v1/incidents", json=incident(), headers=replayed)
        assert again.status == 200 and (await again.json())["reference"] == keyed
    assert keyed == first + 1
    assert await post(world, world.home) == first + 2


async def insert_plainly(conn: asyncpg.Connection, school) -> int:
    """An incident inserted naming no reference (a script, the benchmarks' seeding)."""
    reference: int = await conn.fetchval(
        """INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, description,
                                  restricted)
           VALUES ($1, $2, $3, now(), 'by hand', false) RETURNING reference""",
        school.id,
        school.pupils["P0001"],
        school.staff["S06"],
    )
    return reference


async def test_any_other_insert_is_numbered_per_school_too(pg: asyncpg.Pool) -> None:
    # A writer that names no reference gets the school's next number from the same counter,
    # in step with the recording statement.
    async with pg.acquire() as conn:
        school = await seed_school(conn, "Oakfield")
        assert (await record_incident(conn, school)).reference == 1
        assert await insert_plainly(conn, school) == 2
        assert (await record_incident(conn, school)).reference == 3
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                """INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at,
                                          description, restricted, reference)
                   VALUES ($1, $2, $3, now(), 'a copy', false, 3)""",
                school.id,
                school.pupils["P0001"],
                school.staff["S06"],
            )


async def test_the_migration_continues_each_school_from_its_own_highest(monkeypatch) -> None:
    # A deployment from before: global references, two schools interleaved.
    url = await create_database_before_per_school_references(monkeypatch)
    try:
        conn = await asyncpg.connect(url)
        try:
            a, b = await seed_school(conn, "A"), await seed_school(conn, "B")
            old = [await insert_plainly(conn, s) for s in (a, b, a, a, b)]
            assert old == [1, 2, 3, 4, 5]  # global: what leaked
            monkeypatch.undo()
            assert await database.migrate(conn) == ["0018_references_per_school.sql"]
            assert (await record_incident(conn, a)).reference == 5  # after A's 4
            assert (await record_incident(conn, b)).reference == 6  # after B's 5
            assert (await record_incident(conn, b)).reference == 7
            c = await seed_school(conn, "C")  # created after: starts at 1
            assert (await record_incident(conn, c)).reference == 1
        finally:
            await conn.close()
    finally:
        await drop_database(url)


async def create_database_before_per_school_references(monkeypatch) -> str:
    everything = database.migration_files()
    before = [(n, sql) for n, sql in everything if n < "0018_references_per_school.sql"]
    assert len(before) < len(everything)
    monkeypatch.setattr(database, "migration_files", lambda: before)
    return await create_database()
