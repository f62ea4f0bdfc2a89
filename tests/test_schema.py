"""The schema: migrations are idempotent and concurrent-safe; records are append-only."""

import asyncio

import asyncpg
import pytest

from services.ingest.records.schools import create_school
from shared import database
from shared.domain import DEFAULT_CATEGORIES, category_slug
from tests.support import world


async def test_migrate_twice_and_concurrently_applies_nothing_new(database_url):
    conns = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(database.migrate(c) for c in conns))
        assert results == [[], [], []]
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(database.migration_files())
    finally:
        for c in conns:
            await c.close()


async def test_concurrent_migrate_on_empty_database_applies_each_file_once():
    from tests.support.databases import ADMIN_URL, _with_db, drop_database

    admin = await asyncpg.connect(ADMIN_URL)
    name = "beacon_t_concurrent_migrate"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_db(ADMIN_URL, name)
    conns = [await asyncpg.connect(url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(database.migrate(c) for c in conns))
        applied = [name for r in results for name in r]
        assert sorted(applied) == sorted(n for n, _ in database.migration_files())
    finally:
        for c in conns:
            await c.close()
        await drop_database(url)


async def test_seeded_category_slugs_follow_the_slug_rule(pg):
    async with pg.acquire() as conn:
        school = await create_school(conn, "Slug Primary")
        slugs = {
            r["slug"]
            for r in await conn.fetch("SELECT slug FROM categories WHERE school_id = $1", school)
        }
    expected = {category_slug(g) for g in DEFAULT_CATEGORIES}
    expected |= {category_slug(g, n) for g, (_, names) in DEFAULT_CATEGORIES.items() for n in names}
    assert slugs == expected
    assert "cause-for-concern/injury-bruise" in slugs
    assert "sen/1-1-support" in slugs
    assert "parent-contact/face-to-face-conversation" in slugs


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE incidents SET description = 'edited'",
        "DELETE FROM incidents",
        "TRUNCATE incidents CASCADE",
        "UPDATE actions SET description = 'edited'",
        "DELETE FROM actions",
        "DELETE FROM incident_categories",
    ],
)
async def test_incidents_and_actions_refuse_update_delete_truncate(pg, statement):
    async with pg.acquire() as conn:
        school = await create_school(conn, "Append Only Academy")
        staff = await conn.fetchval(
            """INSERT INTO staff (school_id, external_id, email, first_name, last_name, initials)
               VALUES ($1, 'S1', 'a@b.example', 'A', 'B', 'AB') RETURNING id""",
            school,
        )
        pupil = await conn.fetchval(
            """INSERT INTO pupils (school_id, external_id, first_name, last_name)
               VALUES ($1, 'P1', 'C', 'D') RETURNING id""",
            school,
        )
        incident = await conn.fetchval(
            """INSERT INTO incidents (school_id, pupil_id, author_id, occurred_at, description,
                                      restricted) VALUES ($1, $2, $3, now(), 'original', false)
               RETURNING id""",
            school,
            pupil,
            staff,
        )
        await conn.execute(
            "INSERT INTO incident_categories VALUES ($1, $2, 'behaviour/negative-behaviour')",
            school,
            incident,
        )
        await conn.execute(
            """INSERT INTO actions (school_id, incident_id, author_id, description)
               VALUES ($1, $2, $3, 'spoke to parent')""",
            school,
            incident,
            staff,
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT description FROM incidents") == "original"
        assert await conn.fetchval("SELECT count(*) FROM actions") == 1


async def test_an_incident_may_only_become_restricted_never_the_reverse(pg):
    """The one change an incident allows: moved into a restricted category, once, for good."""
    async with pg.acquire() as conn:
        school = await world.seed_school(conn)
        recorded = await world.record_incident(conn, school)
        await conn.execute("UPDATE incidents SET restricted = true WHERE id = $1", recorded.id)
        for statement in (
            "UPDATE incidents SET restricted = false WHERE id = $1",
            "UPDATE incidents SET description = 'edited' WHERE id = $1",
            "UPDATE incidents SET pupil_id = pupil_id, restricted = true, "
            "occurred_at = occurred_at - interval '1 day' WHERE id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, recorded.id)
        row = await conn.fetchrow("SELECT restricted, description FROM incidents")
        assert row["restricted"] and row["description"] == "A routine write-up."
