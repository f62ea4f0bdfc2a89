"""Server-side staff sessions in Redis, the session cookie, and CSRF.

The cookie holds a random 256-bit id; Redis holds only its sha256, so a copy of Redis cannot be
replayed as a cookie. A session ends after `idle_seconds` without a request (the TTL is renewed
on each use), `max_seconds` after sign-in however busy it is (checked on every use; its TTL
never reaches past it), at logout, and when its person's password is reset, their account made
inactive or an authenticator of theirs removed (`end_all`); its id changes at login and at
elevation, so an id planted before either (session fixation) is worthless afterwards. Elevation
lapses `elevation_seconds` after the code was entered.

`end_all` is certain in two ways: it deletes every session the per-staff index lists (the index
never expires before its members, and dead members are pruned), and it records the moment in
`beacon:staff-epoch:{id}`, so any session created before it (one the index missed) dies on use.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
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
_EPOCH = "beacon:staff-epoch:"  # sessions of this person created before it are dead
# An epoch is kept at least this long: the longest BEACON_SESSION_MAX_SECONDS allows, so it
# outlives every session it ends whoever ends them (the beacon command knows no lifetimes).
_EPOCH_MIN_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the cookie value; never stored
    school_id: uuid.UUID
    staff_id: uuid.UUID
    csrf_token: str
    idle_seconds: int
    elevated: bool = False
    enrol_only: bool = False  # TOTP at login is required but no device yet: enrol, nothing else
    created: float = 0.0  # sign-in, by Redis's clock; rotation keeps it
    elevated_at: float = 0.0


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
    def __init__(
        self, redis: Redis, max_seconds: int = 12 * 3600, elevation_seconds: int = 3600
    ) -> None:
        self.redis = redis
        self.max_seconds = max_seconds
        self.elevation_seconds = elevation_seconds

    async def create(
        self,
        school_id: uuid.UUID,
        staff_id: uuid.UUID,
        idle_seconds: int,
        elevated: bool = False,
        enrol_only: bool = False,
    ) -> Session:
        now = await self._now()
        session = Session(
            id=secrets.token_urlsafe(32),
            school_id=school_id,
            staff_id=staff_id,
            csrf_token=secrets.token_urlsafe(32),
            idle_seconds=idle_seconds,
            elevated=elevated,
            enrol_only=enrol_only,
            created=now,
            elevated_at=now if elevated else 0.0,
        )
        await self._prune(staff_id)
        await self._save(session, now)
        return session

    async def _save(self, s: Session, now: float) -> None:
        index = _BY_STAFF + str(s.staff_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(s.id), _dump(s), px=max(1, self._ttl_ms(s, now)))
            pipe.sadd(index, _key(s.id))
            # Every member ends within max_seconds of now: the index outlives them all.
            pipe.expire(index, self.max_seconds + 60)
            await pipe.execute()

    async def _prune(self, staff_id: uuid.UUID) -> None:
        """Drop index members whose sessions have ended on their own (idle, lifetime)."""
        index = _BY_STAFF + str(staff_id)
        members = list(await self.redis.smembers(index))  # type: ignore[misc]
        if not members:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.exists(member)
            found = await pipe.execute()
        dead = [m for m, alive in zip(members, found, strict=True) if not alive]
        if dead:
            await self.redis.srem(index, *dead)  # type: ignore[misc]

    def _ttl_ms(self, s: Session, now: float) -> int:
        """The idle timeout, or what is left of the lifetime when that is less (<= 0: over)."""
        left = s.created + self.max_seconds - now
        return min(s.idle_seconds * 1000, int(left * 1000))

    async def get(self, session_id: str) -> Session | None:
        """The live session for a cookie value, its idle timer restarted; None if ended."""
        if not session_id or len(session_id) > 128:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(_key(session_id))
            pipe.time()  # Redis's clock, as _now reads it, in the same round trip
            raw, clock = await pipe.execute()
        if raw is None:
            return None
        session = _load(session_id, raw)
        now = _seconds(clock)
        ttl = self._ttl_ms(session, now)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(_EPOCH + str(session.staff_id))
            pipe.pexpire(_key(session_id), max(1, ttl))
            epoch, _ = await pipe.execute()
        if ttl <= 0 or (epoch is not None and session.created < float(epoch)):
            await self.delete(session)
            return None
        if session.elevated and now - session.elevated_at >= self.elevation_seconds:
            return replace(session, elevated=False)  # lapsed: as if never elevated
        return session

    async def rotate(self, old: Session, **changes: Unpack[Rotation]) -> Session:
        """The same session (same sign-in time) under a new id (old id deleted), with `changes`
        applied; elevating restarts the elevation's clock."""
        now = await self._now()
        new = replace(old, id=secrets.token_urlsafe(32), **changes)
        if changes.get("elevated"):
            new = replace(new, elevated_at=now)
        await self._save(new, now)
        await self.delete(old)
        return new

    async def delete(self, session: Session) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(_key(session.id))
            pipe.srem(_BY_STAFF + str(session.staff_id), _key(session.id))
            await pipe.execute()

    async def end_all(self, staff_id: uuid.UUID) -> None:
        """Every session of a member of staff (password reset, made inactive, device removed),
        including any the index no longer lists: those created before now die on use."""
        now = await self._now()
        index = _BY_STAFF + str(staff_id)
        epoch_ttl = max(self.max_seconds, _EPOCH_MIN_SECONDS)
        await self.redis.set(_EPOCH + str(staff_id), repr(now), ex=epoch_ttl)
        # redis-py annotates smembers for its sync and asyncio clients at once.
        keys = await self.redis.smembers(index)  # type: ignore[misc]
        await self.redis.delete(index, *keys)

    async def _now(self) -> float:
        """Redis's clock: one clock for sign-in times and epochs, whichever host wrote them."""
        return _seconds(await self.redis.time())


def _seconds(clock: tuple[int, int]) -> float:
    """Redis TIME's (seconds, microseconds) as seconds."""
    seconds, micros = clock
    return float(seconds + micros / 1_000_000)


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
