"""Slow clients against the door: a body that never finishes arriving is cut off at
INGEST_BODY_TIMEOUT with 408 and a closed connection, while the MIS's API key is still served;
oversized headers and bodies are refused before any work.

The ingest app is served on a real port with the server options `beacon ingest` uses, and the
attackers are raw sockets: headers, then one byte of a promised body, then nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app, server_options
from shared.config import Settings
from tests.ingest.conftest import incident
from tests.support.world import School, seed_school

BODY_TIMEOUT = 0.5
SLOW_CLIENTS = 200
MARGIN = 5.0  # a safety net against a hang, never a timing assertion


@pytest.fixture
def slow_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, api_key_rate=0, ingest_body_timeout=BODY_TIMEOUT)


@pytest.fixture
async def served(slow_settings: Settings) -> AsyncIterator[TestClient]:
    server = TestServer(create_app(slow_settings))
    # TestServer drops the options handed to it; started first with them, it keeps them.
    await server.start_server(**server_options(slow_settings))
    async with TestClient(server) as client:
        yield client


@pytest.fixture
async def school(pg: asyncpg.Pool) -> School:
    return await seed_school(pg, "Riverside Primary")


async def slow_request(
    port: int, path: str, length: int = 100, first: bytes = b"{"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    kind = "application/json" if path.startswith("/v1/") else "application/x-www-form-urlencoded"
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: ingest\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
        + first
    )
    await writer.drain()
    return reader, writer


async def outcome(reader: asyncio.StreamReader) -> tuple[int | str, bool]:
    """(status, or "closed" if the server hung up without one; and whether it then closed
    the connection). Past the safety net: ("hung", False)."""
    status: int | str = "hung"
    try:
        async with asyncio.timeout(MARGIN + BODY_TIMEOUT):
            line = await reader.readline()
            status = int(line.split()[1]) if line else "closed"
            await reader.read()  # to EOF: the server must hang up, not wait for more
    except TimeoutError:
        return status, False
    except ConnectionResetError:
        pass
    return status, True


async def test_slow_bodies_are_cut_off_while_the_mis_is_served(served, school):
    port = served.server.port
    paths = ["/v1/session", "/login"]
    started = time.monotonic()
    held = [await slow_request(port, paths[i % 2]) for i in range(SLOW_CLIENTS)]
    answers = asyncio.gather(*(outcome(reader) for reader, _ in held))
    created = 0
    # The MIS posts from when the slow clients are all in (opening 200 sockets once took a
    # whole second of a busy CI box, and the window had closed before the first post).
    posting_until = time.monotonic() + BODY_TIMEOUT * 2
    while time.monotonic() < posting_until:
        r = await served.post("/v1/incidents", json=incident(), headers=school.headers)
        assert r.status == 201, await r.text()
        created += 1
    results = await answers
    elapsed = time.monotonic() - started
    for _, writer in held:
        writer.close()
    statuses = Counter(status for status, _ in results)
    print(f"\n{SLOW_CLIENTS} slow clients: {dict(statuses)} in {elapsed:.2f} s; {created} x 201")
    print("left open:", sum(not closed for _, closed in results))
    assert created >= 5
    assert set(statuses) <= {408, 503, "closed"}, statuses
    assert statuses[408] >= 1, statuses  # the admitted ones were cut off, not left waiting
    assert all(closed for _, closed in results)
    assert elapsed < BODY_TIMEOUT + MARGIN


async def test_a_slow_body_on_the_api_lane_is_cut_off_too(served, school):
    reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
    writer.write(
        (
            f"POST /v1/incidents HTTP/1.1\r\nHost: ingest\r\n"
            f"Authorization: Bearer {school.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 1000\r\n\r\n" + '{"author"'
        ).encode()
    )
    await writer.drain()
    started = time.monotonic()
    assert await outcome(reader) == (408, True)
    assert time.monotonic() - started >= BODY_TIMEOUT * 0.9
    writer.close()


async def test_a_body_larger_than_any_route_takes_is_refused_before_it_is_read(served):
    for path in ("/login", "/v1/session", "/v1/incidents"):
        reader, writer = await slow_request(served.server.port, path, length=1_000_000_000)
        started = time.monotonic()
        async with asyncio.timeout(MARGIN):
            line = await reader.readline()
        assert time.monotonic() - started < BODY_TIMEOUT  # not after waiting for the body
        assert int(line.split()[1]) == 413, path
        writer.close()


@pytest.mark.parametrize(
    "headers",
    [
        "".join(f"X-Filler-{i}: {i}\r\n" for i in range(101)),  # more than 100 headers
        "X-Long: " + "a" * (8 * 1024 + 1) + "\r\n",  # a field over 8 KiB
    ],
    ids=["too-many-headers", "field-too-long"],
)
async def test_oversized_headers_are_refused(served, headers):
    reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
    writer.write(f"GET /login HTTP/1.1\r\nHost: ingest\r\n{headers}\r\n".encode())
    await writer.drain()
    status, _ = await outcome(reader)
    assert status in (400, 431)
    writer.close()


async def test_a_long_request_line_is_refused(served):
    reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
    writer.write(f"GET /{'a' * (8 * 1024 + 1)} HTTP/1.1\r\nHost: ingest\r\n\r\n".encode())
    await writer.drain()
    status, _ = await outcome(reader)
    assert status in (400, 414)
    writer.close()
