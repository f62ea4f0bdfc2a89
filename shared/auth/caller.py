"""Who is calling a /v1 endpoint: a staff session (cookie + CSRF) or a school's API key.

`viewer(request, conn)` is what every read starts with; `session(request)` is for endpoints a
person must call themselves (their own authenticator, elevation, logout).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
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
from shared.web import SETTINGS, request_pool

AUTH_TIMEOUT = 5.0
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
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
    """The client's address, for throttles and the audit log: the peer's, unless the peer is
    one of BEACON_TRUSTED_PROXIES; then the right-most X-Forwarded-For hop that is not a
    trusted proxy (what the outermost trusted proxy saw). Hops to its left are the client's
    own say and are never believed."""
    peer = request.remote or ""
    settings = request.app.get(SETTINGS)
    proxies = _networks(settings.trusted_proxies) if settings else ()
    if not proxies or not _within(peer, proxies):
        return peer
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, proxies):
            return hop if _address(hop) else peer
        peer = hop
    return peer


@functools.cache
def _networks(configured: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in configured)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(text: str, networks: tuple[IPNetwork, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in n for n in networks)


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
# A service's own key path (ingest: rate limit, shedding; the notifier: rate limit), used by
# every `caller` that is not handed one: no route can take a key past its service's checks.
KEY_PATH = web.AppKey[KeyAuthenticator]("api_key_path")


async def api_key(request: web.Request) -> ApiCaller:
    async with asyncio.timeout(AUTH_TIMEOUT):
        return await request.app[state.AUTH].api_keys.authenticate(request, request_pool(request))


def rate_limited(take: Callable[[uuid.UUID], None]) -> KeyAuthenticator:
    """`api_key`, then `take` charges the key's bucket (raising RateLimited past it)."""

    async def authenticate(request: web.Request) -> ApiCaller:
        key = await api_key(request)
        take(key.api_key_id)
        return key

    return authenticate


async def caller(request: web.Request, authenticate_key: KeyAuthenticator | None = None) -> Caller:
    """An API key when an Authorization header is sent, else the session cookie. The key is
    checked by `authenticate_key`, else by the app's KEY_PATH, else by `api_key`."""
    if "Authorization" in request.headers:
        authenticate = authenticate_key or request.app.get(KEY_PATH, api_key)
        key = await authenticate(request)
        return Caller(school_id=key.school_id, api_key=key)
    s = await session(request)
    return Caller(school_id=s.school_id, session=s)


async def viewer(conn: Connection, who: Caller) -> Viewer:
    if who.api_key is not None:
        return access.api_key_viewer(who.school_id, who.api_key.api_key_id, who.api_key.scopes)
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
