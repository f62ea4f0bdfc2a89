"""Group commit: one school's recordings that arrive while its last batch is being written go
together, each still answered only after its own commit, numbered without gaps; a recording
that fails in a batch fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp.test_utils import TestClient

from tests.ingest.conftest import incident
from tests.support.metrics import sample
from tests.support.world import School

BATCH = "beacon_ingest_recording_batch_size"


async def batches(client: TestClient) -> tuple[float, float]:
    """(batches written, incidents in them) so far, from the ingest's own metrics."""
    text = await (await client.get("/metrics")).text()
    return sample(text, f"{BATCH}_count"), sample(text, f"{BATCH}_sum")


@asynccontextmanager
async def counter_held(pg: asyncpg.Pool, school: School) -> AsyncIterator[None]:
    """Holds the school's reference counter row, as a long recording elsewhere would: the
    recording already sent waits on it, and what arrives meanwhile piles up behind it."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("SELECT FROM school_counters WHERE school_id = $1 FOR UPDATE", school.id)
        yield


async def post_while_held(
    client: TestClient, pg: asyncpg.Pool, school: School, bodies: list[dict[str, object]]
) -> list[tuple[int, dict[str, object]]]:
    async def post(body: dict[str, object]) -> tuple[int, dict[str, object]]:
        r = await client.post("/v1/incidents", json=body, headers=school.headers)
        return r.status, await r.json()

    async with counter_held(pg, school):
        first = asyncio.create_task(post(bodies[0]))
        await _waiting_on_the_counter(pg)
        rest = [asyncio.create_task(post(b)) for b in bodies[1:]]
        await asyncio.sleep(0.2)  # every request of the rest has reached the recorder
        assert not any(t.done() for t in [first, *rest])  # nobody answered before commit
    return [await first] + [await t for t in rest]


async def _waiting_on_the_counter(pg: asyncpg.Pool) -> None:
    for _ in range(500):
        waiting = await pg.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first recording never reached the counter row")


async def test_recordings_that_pile_up_commit_as_one_batch_numbered_without_gaps(
    client: TestClient, school: School, pg: asyncpg.Pool
) -> None:
    await client.post("/v1/incidents", json=incident(), headers=school.headers)  # the counter
    before = await batches(client)
    bodies = [incident(description=f"Concern {i}.") for i in range(20)]
    answers = await post_while_held(client, pg, school, bodies)
    assert [status for status, _ in answers] == [201] * 20
    count, items = await batches(client)
    assert (count - before[0], items - before[1]) == (2, 20)  # the first alone, then 19
    references = sorted(int(str(body["reference"])) for _, body in answers)
    assert references == list(range(2, 22))
    stored = await pg.fetch(
        "SELECT i.reference, i.description, e.id AS event FROM incidents i "
        "JOIN alert_events e ON e.incident_id = i.id WHERE i.school_id = $1",
        school.id,
    )
    assert len(stored) == 21
    by_reference = {r["reference"]: r["description"] for r in stored}
    assert all(
        by_reference[int(str(body["reference"]))] == body["description"] for _, body in answers
    )


async def test_a_recording_that_fails_in_a_batch_fails_alone(
    client: TestClient, school: School, pg: asyncpg.Pool
) -> None:
    await client.post("/v1/incidents", json=incident(), headers=school.headers)
    # This throwaway database's own fault: PostgreSQL refuses one of the batch's rows.
    await pg.execute(
        """CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF NEW.description = 'poison' THEN RAISE EXCEPTION 'refused'; END IF;
               RETURN NEW;
           END $$;
           CREATE TRIGGER refuse_poison BEFORE INSERT ON incidents
               FOR EACH ROW EXECUTE FUNCTION refuse_poison();"""
    )
    bodies = [incident(description=f"Concern {i}.") for i in range(10)]
    bodies[5] = incident(description="poison")
    answers = await post_while_held(client, pg, school, bodies)
    statuses = [status for status, _ in answers]
    assert statuses[5] == 500
    assert statuses[:5] + statuses[6:] == [201] * 9
    stored = await pg.fetch("SELECT description FROM incidents WHERE school_id = $1", school.id)
    assert sorted(r["description"] for r in stored) == sorted(
        [incident()["description"]] + [f"Concern {i}." for i in range(10) if i != 5]
    )
    references = sorted(int(str(body["reference"])) for s, body in answers if s == 201)
    assert references == list(range(2, 11))
