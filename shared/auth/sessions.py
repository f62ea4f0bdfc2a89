"""Server-side staff sessions in Redis, the session cookie, and CSRF.

The cookie holds a random 256-bit id; Redis holds only its sha256, so a copy of Redis cannot be
replayed as a cookie. A session ends after `idle_seconds` without a request (the TTL is renewed
on each use), at logout, and when its password changes; its id changes at login and at
elevation, so an id planted before either (session fixation) is worthless afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import TypedDict, Unpack

from aiohttp import web
from redis.asyncio import Redis

from shared.problems import Forbidden

COOKIE = "beacon_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PREFIX = "beacon:session:"
_BY_STAFF = "beacon:staff-sessions:"


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the cookie value; never stored
    school_id: uuid.UUID
    staff_id: uuid.UUID
    csrf_token: str
    idle_seconds: int
    elevated: bool = False
    enrol_only: bool = False  # TOTP at login is required but no device yet: enrol, nothing else
    created: float = 0.0


class Rotation(TypedDict, total=False):
    """What a rotation may change besides the id."""

    elevated: bool
    enrol_only: bool


def _key(session_id: str) -> str:
    return _PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def _dump(s: Session) -> str:
    body = asdict(s)
    del body["id"]
    return json.dumps({**body, "school_id": str(s.school_id), "staff_id": str(s.staff_id)})


def _load(session_id: str, raw: bytes | str) -> Session:
    body = json.loads(raw)
    return Session(
        id=session_id,
        **{
            **body,
            "school_id": uuid.UUID(body["school_id"]),
            "staff_id": uuid.UUID(body["staff_id"]),
        },
    )


class SessionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(
        self,
        school_id: uuid.UUID,
        staff_id: uuid.UUID,
        idle_seconds: int,
        elevated: bool = False,
        enrol_only: bool = False,
    ) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            school_id=school_id,
            staff_id=staff_id,
            csrf_token=secrets.token_urlsafe(32),
            idle_seconds=idle_seconds,
            elevated=elevated,
            enrol_only=enrol_only,
            created=time.time(),
        )
        await self._save(session)
        return session

    async def _save(self, s: Session) -> None:
        index = _BY_STAFF + str(s.staff_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(s.id), _dump(s), ex=s.idle_seconds)
            pipe.sadd(index, _key(s.id))
            pipe.expire(index, 86400)
            await pipe.execute()

    async def get(self, session_id: str) -> Session | None:
        """The live session for a cookie value, its idle timer restarted; None if ended."""
        if not session_id or len(session_id) > 128:
            return None
        raw = await self.redis.get(_key(session_id))
        if raw is None:
            return None
        session = _load(session_id, raw)
        await self.redis.expire(_key(session_id), session.idle_seconds)
        return session

    async def rotate(self, old: Session, **changes: Unpack[Rotation]) -> Session:
        """The same session under a new id (old id deleted), with `changes` applied."""
        new = replace(old, id=secrets.token_urlsafe(32), **changes)
        await self._save(new)
        await self.delete(old)
        return new

    async def delete(self, session: Session) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(_key(session.id))
            pipe.srem(_BY_STAFF + str(session.staff_id), _key(session.id))
            await pipe.execute()

    async def end_all(self, staff_id: uuid.UUID) -> None:
        """Every session of a member of staff (after a password change)."""
        index = _BY_STAFF + str(staff_id)
        # redis-py annotates smembers for its sync and asyncio clients at once.
        keys = await self.redis.smembers(index)  # type: ignore[misc]
        await self.redis.delete(index, *keys)


def set_cookie(response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(COOKIE, session.id, httponly=True, secure=True, samesite="Strict", path="/")


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")


def cookie_value(request: web.Request) -> str:
    return request.cookies.get(COOKIE, "")


def check_csrf(request: web.Request, session: Session) -> None:
    """A state-changing request made with the session cookie must echo the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Forbidden(f"Send the session's CSRF token in the {CSRF_HEADER} header.")
