"""The door: refusals happen before the body is read, and a standing queue for database
connections (QueueDelay, CoDel's test) limits admission to the pool's size.

Requests are held in flight by sending their headers and only part of the body, over a raw
socket: a server that read the body before refusing would never answer them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from services.ingest.door import DOOR, QueueDelay
from tests.ingest.conftest import incident
from tests.support.until import until
from tests.support.world import seed_school

DEADLINE = 10.0  # a safety net against a hang, never a timing assertion


@dataclass
class ManualClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("waits", "standing"),
    [
        ([0.2, 0.3, 0.2], True),  # every wait in the window over target: a standing queue
        ([0.2, 0.001, 0.3], False),  # one short wait: the queue drained, it was a burst
        ([0.01, 0.02], False),  # all under target
    ],
)
def test_queue_stands_when_even_the_shortest_wait_in_a_window_exceeds_target(waits, standing):
    clock = ManualClock()
    delay = QueueDelay(target=0.05, interval=0.1, clock=clock)
    for wait in waits:
        delay.observe(wait)
    assert not delay.standing()  # no verdict before the window closes
    clock.now += 0.1
    delay.observe(waits[-1])
    assert delay.standing() is standing


def test_standing_verdict_lapses_without_new_measurements():
    clock = ManualClock()
    delay = QueueDelay(target=0.05, interval=0.1, clock=clock)
    clock.now += 0.1
    delay.observe(0.5)
    assert delay.standing()
    clock.now += 0.1  # nobody admitted, nothing measured: the door must not stay shut
    assert not delay.standing()


def test_target_zero_never_stands():
    clock = ManualClock()
    delay = QueueDelay(target=0, interval=0.1, clock=clock)
    clock.now += 0.1
    delay.observe(5.0)
    assert not delay.standing()


@asynccontextmanager
async def held_request(port: int, key: str) -> AsyncIterator[asyncio.StreamReader]:
    """A POST whose body never finishes arriving: headers and 9 of 1,000 promised bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"POST /v1/incidents HTTP/1.1\r\nHost: ingest\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 1000\r\n\r\n" + '{"author"'
        ).encode()
    )
    await writer.drain()
    try:
        yield reader
    finally:
        writer.close()
        await writer.wait_closed()


async def response_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    async with asyncio.timeout(DEADLINE):
        status = int((await reader.readline()).split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def in_flight(client, count: int) -> None:
    """Poll /metrics until `count` API requests are being served."""

    async def reached() -> bool:
        return f"beacon_ingest_in_flight {count:.1f}" in await (await client.get("/metrics")).text()

    await until(reached, DEADLINE, f"never {count} in flight")


def assert_shed(status: int, headers: dict[str, str]) -> None:
    assert status == 503
    assert headers["retry-after"].isdigit()
    assert headers["content-type"].startswith("application/problem+json")


async def test_past_max_in_flight_the_refusal_comes_before_the_body(start_app, pg):
    async with start_app(ingest_max_in_flight=1) as client:
        school = await seed_school(pg, "Riverside Primary")
        port = client.server.port
        async with held_request(port, school.key):
            await in_flight(client, 1)
            async with held_request(port, school.key) as refused:
                assert_shed(*await response_head(refused))
        metrics = await (await client.get("/metrics")).text()
        assert 'beacon_ingest_shed_total{reason="in_flight"} 1.0' in metrics


async def test_a_standing_queue_admits_only_as_many_as_the_pool_has_connections(start_app, pg):
    async with start_app(db_pool_size=1, ingest_max_in_flight=32) as client:
        school = await seed_school(pg, "Riverside Primary")
        delay = client.server.app[DOOR].api.delay
        clock = ManualClock(time.monotonic() + 1)
        delay.clock = clock
        delay.observe(1.0)  # closes the window the school's setup measured
        clock.now += delay.interval
        delay.observe(1.0)  # a whole window whose shortest wait was 1 s
        port = client.server.port
        async with held_request(port, school.key):
            await in_flight(client, 1)  # as many as the pool has connections
            async with held_request(port, school.key) as refused:
                assert_shed(*await response_head(refused))
        metrics = await (await client.get("/metrics")).text()
        assert 'beacon_ingest_shed_total{reason="queue_delay"} 1.0' in metrics
        await in_flight(client, 0)
        clock.now += 0.1  # the verdict lapses: the door opens again
        r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
        assert r.status == 201, await r.text()
        assert await pg.fetchval("SELECT count(*) FROM incidents") == 1
