"""Issuing and checking credentials for machines: a school's API keys (stored as a sha256
hash, shown once) and the platform admin token.

API keys are high-entropy random strings, so a fast hash is enough to store them; lookups are
cached briefly so the hot path does not pay a query per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from shared.database import Connection
from shared.problems import Unauthorized

_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ApiCaller:
    school_id: uuid.UUID
    api_key_id: uuid.UUID


def new_api_key() -> tuple[str, bytes]:
    key = "bk_" + secrets.token_urlsafe(32)
    return key, hash_key(key)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_api_key(conn: Connection, school_id: uuid.UUID, name: str) -> str:
    key, digest = new_api_key()
    await conn.execute(
        "INSERT INTO api_keys (school_id, name, key_hash) VALUES ($1, $2, $3)",
        school_id,
        name,
        digest,
    )
    return key


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <key>'.")
    return token.strip()


def require_admin(request: web.Request, admin_token: str) -> None:
    if not hmac.compare_digest(bearer_token(request).encode(), admin_token.encode()):
        raise Unauthorized("The admin token is not valid.")


class ApiKeyCache:
    """Maps key hash -> caller for a few seconds; revoked keys stop working within that time."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, ApiCaller]] = {}

    async def authenticate(
        self, request: web.Request, pool: asyncpg.Pool, acquire_timeout: float | None = None
    ) -> ApiCaller:
        """acquire_timeout bounds the wait for a pool connection on a cache miss
        (TimeoutError past it), so an exhausted pool cannot stall authentication."""
        digest = hash_key(bearer_token(request))
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        async with pool.acquire(timeout=acquire_timeout) as conn:
            row = await conn.fetchrow(
                "SELECT id, school_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                digest,
            )
        if row is None:
            raise Unauthorized("The API key is not valid.")
        caller = ApiCaller(school_id=row["school_id"], api_key_id=row["id"])
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now + _CACHE_SECONDS, caller)
        return caller
