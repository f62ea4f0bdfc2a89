"""Throwaway PostgreSQL databases on the server at BEACON_TEST_PG, created and dropped by us."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared import database

ADMIN_URL = os.environ.get("BEACON_TEST_PG", "postgresql://127.0.0.1:5432/test")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def create_database(admin_url: str = ADMIN_URL) -> str:
    name = f"beacon_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = _with_db(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await database.migrate(conn)
    finally:
        await conn.close()
    return url


async def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    name = urlsplit(url).path.lstrip("/")
    assert name.startswith("beacon_t_"), "only drop databases the tests created"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
