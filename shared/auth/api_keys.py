"""Issuing and checking credentials for machines: a school's API keys (stored as a sha256
hash, shown once, holding scopes) and the platform admin token.

API keys are high-entropy random strings, so a fast hash is enough to store them; lookups are
cached briefly so the hot path does not pay a query per request. Revoking a key also marks it
in Redis, which every cache hit asks (one MGET for the hits that arrive together): a revoked
key is refused at once by every process, not when its cache entry expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import redis.exceptions
from aiohttp import web
from redis.asyncio import Redis

from shared.auth import scopes
from shared.coalesce import Coalescer
from shared.database import Connection
from shared.problems import Unauthorized
from shared.web import REDIS

_CACHE_SECONDS = 30.0
_REDIS_ERRORS = (redis.exceptions.RedisError, OSError)


@dataclass(frozen=True, slots=True)
class ApiCaller:
    school_id: uuid.UUID
    api_key_id: uuid.UUID
    scopes: frozenset[str] = frozenset(scopes.DEFAULT)
    authors: frozenset[str] | None = None  # the staff it may post as; None: anyone

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def new_api_key() -> tuple[str, bytes]:
    key = "bk_" + secrets.token_urlsafe(32)
    return key, hash_key(key)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_INSERT = """INSERT INTO api_keys (school_id, name, key_hash, scopes, authors)
VALUES ($1, $2, $3, $4, $5) RETURNING id"""


async def issue_api_key(
    conn: Connection,
    school_id: uuid.UUID,
    name: str,
    granted: Sequence[str] = scopes.DEFAULT,
    authors: Sequence[str] | None = None,
) -> tuple[uuid.UUID, str]:
    """A new key's id and the key itself (shown once; only its hash is stored)."""
    key, digest = new_api_key()
    key_id = await conn.fetchval(
        _INSERT, school_id, name, digest, list(granted), None if authors is None else list(authors)
    )
    return key_id, key


async def create_api_key(conn: Connection, school_id: uuid.UUID, name: str) -> str:
    """A key with the default scopes (the `beacon admin api-key` command)."""
    return (await issue_api_key(conn, school_id, name))[1]


# A revoked key's mark outlives every cache entry made before it (_CACHE_SECONDS) many times.
_REVOKED_SECONDS = 3600


def revoked_key(api_key_id: uuid.UUID) -> str:
    return f"beacon:api-keys:revoked:{api_key_id}"


async def revoke_api_key(
    conn: Connection, redis: Redis, school_id: uuid.UUID, key_id: uuid.UUID
) -> bool:
    """Revoke (False: no such key in this school), then mark it revoked in Redis for every
    process's cache. Revoking twice marks it again, so a retry after Redis was away still
    reaches every cache."""
    found = await conn.fetchval(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
           WHERE school_id = $1 AND id = $2 RETURNING id""",
        school_id,
        key_id,
    )
    if found is None:
        return False
    await redis.set(revoked_key(key_id), b"1", ex=_REVOKED_SECONDS)
    return True


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
    """Maps key hash -> caller for a few seconds. A hit stands only while Redis says the key
    was not revoked; with Redis away every request asks PostgreSQL. The hits that arrive
    while one check is in Redis are checked together in the next (one MGET): each by a
    check sent after it arrived, so a key revoked before a request came is refused."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, ApiCaller]] = {}
        self._revocations: Coalescer[Redis, uuid.UUID, bool | None] = Coalescer(_revoked)

    async def authenticate(
        self, request: web.Request, pool: asyncpg.Pool, acquire_timeout: float | None = None
    ) -> ApiCaller:
        """acquire_timeout bounds the wait for a pool connection on a cache miss
        (TimeoutError past it), so an exhausted pool cannot stall authentication."""
        digest = hash_key(bearer_token(request))
        redis = request.app.get(REDIS)
        hit = self._entries.get(digest)
        now = time.monotonic()
        if (
            hit
            and hit[0] > now
            and redis is not None
            and await self._revocations.submit(redis, hit[1].api_key_id) is False
        ):
            return hit[1]
        async with pool.acquire(timeout=acquire_timeout) as conn:
            row = await conn.fetchrow(
                """SELECT id, school_id, scopes, authors FROM api_keys
                   WHERE key_hash = $1 AND revoked_at IS NULL""",
                digest,
            )
        if row is None:
            self._entries.pop(digest, None)
            raise Unauthorized("The API key is not valid.")
        caller = _caller(row)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now + _CACHE_SECONDS, caller)
        return caller


def _caller(row: asyncpg.Record) -> ApiCaller:
    authors = row["authors"]
    return ApiCaller(
        school_id=row["school_id"],
        api_key_id=row["id"],
        scopes=frozenset(row["scopes"]),
        authors=None if authors is None else frozenset(authors),
    )


async def _revoked(redis: Redis, api_key_ids: Sequence[uuid.UUID]) -> list[bool | None]:
    """Per key whether it is marked revoked; None when Redis cannot say: then the cache is not
    trusted and PostgreSQL decides."""
    distinct = list(dict.fromkeys(api_key_ids))  # one key's requests mostly come together
    try:
        marks = await redis.mget([revoked_key(k) for k in distinct])
    except _REDIS_ERRORS:
        return [None] * len(api_key_ids)
    revoked = {k: mark is not None for k, mark in zip(distinct, marks, strict=True)}
    return [revoked[k] for k in api_key_ids]
