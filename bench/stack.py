"""The throwaway stack a benchmark runs on: its own databases on the local PostgreSQL, its own
redis-server, Beacon services as real processes (`beacon <service>`, as docker-compose.yml
starts them) and a school provisioned through the admin API. Everything started here is
registered on an AsyncExitStack and torn down with it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.support.databases import ADMIN_URL, create_database, drop_database
from tests.support.ports import free_port
from tests.support.processes import Service
from tests.support.redis_server import RedisServer

BENCH = Path(__file__).resolve().parent
ADMIN_TOKEN = "bench-admin-token-0123456789"


async def beacon_database(stack: AsyncExitStack) -> str:
    """A fresh database with Beacon's migrations applied."""
    url = await create_database(ADMIN_URL)
    stack.push_async_callback(drop_database, url)
    return url


async def empty_database(stack: AsyncExitStack) -> str:
    name = f"beacon_t_floor_{uuid.uuid4().hex[:8]}"  # beacon_t_: drop_database may drop it
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    stack.push_async_callback(drop_database, url)
    return url


def redis_server(stack: AsyncExitStack) -> RedisServer:
    # As in docker-compose.yml: append-only file on, noeviction.
    server = RedisServer(appendonly=True).start()
    stack.callback(server.cleanup)
    return server


def beacon_env(
    database_url: str, redis_url: str, smtp_port: int = 25, **tuning: str
) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_FROM": "Beacon <beacon@school.example>",
        "BEACON_BASE_URL": "http://127.0.0.1",
        "BEACON_ADMIN_TOKEN": ADMIN_TOKEN,
        "BEACON_SECRET_KEY": "bench-secret-key-0123456789abcdef-0123",
        "INGEST_PORT": str(free_port()),
        "NOTIFIER_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
    }
    env.update(tuning)
    return env


def beacon_service(stack: AsyncExitStack, name: str, env: dict[str, str]) -> Service:
    port = {"ingest": "INGEST_PORT", "notifier": "NOTIFIER_PORT"}.get(name)
    service = Service(name, env, health_port=int(env[port]) if port else None)
    stack.callback(service.stop)
    service.start(wait=30)
    return service


def script(stack: AsyncExitStack, name: str, args: list[str], port: int) -> subprocess.Popen[bytes]:
    """Run bench/<name>.py as its own process and wait until it listens on `port`."""
    log = open(f"/tmp/beacon-bench-{name}-{port}.log", "wb")  # noqa: SIM115 - child owns it
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / f"{name}.py"), *args], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    stack.callback(_stop, proc)
    wait_listening(port, proc, name)
    return proc


def wait_listening(port: int, proc: subprocess.Popen[bytes], name: str, wait: float = 20) -> None:
    deadline = time.monotonic() + wait
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def provision_school(ingest_url: str, roster: dict[str, Any]) -> tuple[str, str]:
    """School + roster + API key through the admin API; returns (school_id, api_key)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(ingest_url, headers=headers) as http:
        school = await _json(http.post("/v1/schools", json={"name": "Bench Primary"}))
        await _json(http.put(f"/v1/schools/{school['id']}/roster", json=roster))
        # The MIS of these runs posts restricted incidents too, and reads its alert states.
        body = {
            "name": "bench",
            "scopes": ["incidents:write", "incidents:read", "alerts:read", "restricted"],
        }
        key = await _json(http.post(f"/v1/schools/{school['id']}/api-keys", json=body))
    return school["id"], key["key"]


async def _json(request: Any) -> Any:
    async with request as r:
        if r.status >= 300:
            raise RuntimeError(f"{r.method} {r.url} -> {r.status}: {await r.text()}")
        return await r.json()
