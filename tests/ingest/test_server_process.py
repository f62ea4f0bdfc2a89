"""`beacon ingest` as compose starts it: the HTTP server's own limits hold in the real process
(not only in an in-process test server), and requests are not access-logged one line each."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tests.support.processes import Service


def _raw_request(port: int, headers: int = 1, header_bytes: int = 10) -> bytes:
    """One GET /healthz with `headers` X-Pad headers of `header_bytes` each; the status line."""
    pads = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * header_bytes) for n in range(headers))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + pads + b"\r\n")
        return s.recv(200).split(b"\r\n", 1)[0]


@pytest.fixture
def ingest(env: dict[str, str]) -> Iterator[Service]:
    service = Service("ingest", env, health_port=int(env["INGEST_PORT"]))
    service.start(wait=30)
    yield service
    service.stop()


@pytest.mark.parametrize(
    ("headers", "header_bytes"),
    [(1, 9 * 1024), (101, 10)],  # a field over 8 KiB; more than 100 (aiohttp's own limit: 128)
)
async def test_the_servers_limits_hold_in_the_running_service(
    ingest: Service, env: dict[str, str], headers: int, header_bytes: int
) -> None:
    port = int(env["INGEST_PORT"])
    assert await asyncio.to_thread(_raw_request, port, 90, 10) == b"HTTP/1.1 200 OK"
    refused = await asyncio.to_thread(_raw_request, port, headers, header_bytes)
    assert refused.split(b" ")[1] in (b"400", b"431"), refused


async def test_requests_are_not_access_logged_and_the_options_are_taken(
    ingest: Service, env: dict[str, str]
) -> None:
    port = int(env["INGEST_PORT"])
    for _ in range(5):
        assert await asyncio.to_thread(_raw_request, port) == b"HTTP/1.1 200 OK"
    ingest.stop()
    log = ingest.tail(200_000)
    assert "GET /healthz" not in log  # no line per request
    assert "Failed to create request handler" not in log  # aiohttp dropped our options
