"""Fixtures: real PostgreSQL (a throwaway database per test), a private redis-server per
session (a fresh db number per test), and a real SMTP sink (aiosmtpd)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis as redis_sync

from shared.config import Settings
from tests.support.databases import create_database, drop_database
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

ADMIN_TOKEN = "test-admin-token-0123456789"
SECRET_KEY = "test-secret-key-for-authenticator-secrets-0123"
_redis_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    db = next(_redis_dbs) % 64
    client = redis_sync.Redis(port=redis_server.port, db=db)
    client.flushdb()  # our own server: this db may hold an earlier test's keys
    client.close()
    return redis_server.url(db)


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    url = await create_database()
    yield url
    await drop_database(url)


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def env(database_url: str, redis_url: str, smtp_sink: SmtpSink) -> dict[str, str]:
    """The environment a service gets: the same variable names as docker-compose.yml."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_sink.port),
        "SMTP_FROM": "Beacon <beacon@school.example>",
        "BEACON_BASE_URL": "https://beacon.school.example",
        "BEACON_ADMIN_TOKEN": ADMIN_TOKEN,
        "BEACON_SECRET_KEY": SECRET_KEY,
        "INGEST_PORT": str(free_port()),
        "NOTIFIER_PORT": str(free_port()),
        "RELAY_INTERVAL": "0.2",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)
