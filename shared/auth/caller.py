"""Who is calling a /v1 endpoint: a staff session (cookie + CSRF) or a school's API key.

`viewer(request, conn)` is what every read starts with; `session(request)` is for endpoints a
person must call themselves (their own authenticator, elevation, logout).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from shared import access
from shared.access import Viewer
from shared.auth import state
from shared.auth.api_keys import ApiCaller
from shared.auth.sessions import Session, check_csrf, cookie_value
from shared.database import Connection
from shared.problems import Forbidden, Unauthorized
from shared.web import request_pool

AUTH_TIMEOUT = 5.0
_ENROL_PATHS = frozenset({"/v1/me/totp", "/v1/me/totp/confirm", "/v1/session"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Either a staff session or an API key, never both."""

    school_id: uuid.UUID
    session: Session | None = None
    api_key: ApiCaller | None = None

    @property
    def staff_id(self) -> uuid.UUID | None:
        return self.session.staff_id if self.session else None

    @property
    def api_key_id(self) -> uuid.UUID | None:
        return self.api_key.api_key_id if self.api_key else None


def client_ip(request: web.Request) -> str:
    # The peer address; trusting X-Forwarded-For needs a configured proxy, which we do not have.
    return request.remote or ""


async def session(request: web.Request, allow_enrol_only: bool = False) -> Session:
    """The caller's live session (idle timer restarted), CSRF-checked for changes."""
    found = await state.sessions(request).get(cookie_value(request))
    if found is None:
        raise Unauthorized("Sign in: the session has ended or never began.")
    check_csrf(request, found)
    if found.enrol_only and not (allow_enrol_only and request.path in _ENROL_PATHS):
        raise Forbidden("Your school requires an authenticator: enrol one first.")
    return found


KeyAuthenticator = Callable[[web.Request], Awaitable[ApiCaller]]


async def api_key(request: web.Request) -> ApiCaller:
    async with asyncio.timeout(AUTH_TIMEOUT):
        return await request.app[state.AUTH].api_keys.authenticate(request, request_pool(request))


async def caller(request: web.Request, authenticate_key: KeyAuthenticator = api_key) -> Caller:
    """An API key when an Authorization header is sent, else the session cookie.
    `authenticate_key` lets a service keep its own key path (ingest: rate limit, shedding)."""
    if "Authorization" in request.headers:
        key = await authenticate_key(request)
        return Caller(school_id=key.school_id, api_key=key)
    s = await session(request)
    return Caller(school_id=s.school_id, session=s)


async def viewer(conn: Connection, who: Caller) -> Viewer:
    if who.api_key is not None:
        return access.api_key_viewer(who.school_id, who.api_key.api_key_id)
    assert who.session is not None  # noqa: S101 (Caller holds exactly one of the two)
    found = await access.load_viewer(conn, who.session.staff_id, who.session.elevated)
    if found is None or found.school_id != who.school_id:
        raise Unauthorized("This account is no longer active.")
    return found


async def own_identity(conn: Connection, s: Session) -> tuple[str, Viewer]:
    """The session's staff id as the school's MIS names it (for authors and readers), and a
    viewer with roles only: enough to decide who may add a record, and it denies more, never
    less, than the full viewer (reads load that with `viewer`)."""
    row = await conn.fetchrow(
        "SELECT external_id, roles FROM staff WHERE id = $1 AND school_id = $2 AND active",
        s.staff_id,
        s.school_id,
    )
    if row is None:
        raise Unauthorized("This account is no longer active.")
    return row["external_id"], Viewer(
        school_id=s.school_id,
        staff_id=s.staff_id,
        roles=frozenset(row["roles"]),
        elevated=s.elevated,
    )


def acting_as(named: object, own: str, field: str) -> str:
    """A session acts as its own staff member only: naming anyone else is refused."""
    if named is not None and named != own:
        raise Forbidden("A signed-in member of staff acts only as themselves.", field=field)
    return own


async def visible_or_404(conn: Connection, who: Caller, incident_id: uuid.UUID) -> Viewer:
    """The caller's viewer, if they may see the incident; 404 (as for a missing id) if not."""
    v = await viewer(conn, who)
    await access.visible_incident(conn, v, incident_id)
    return v
