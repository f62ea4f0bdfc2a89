"""Who may see a page: a live staff session (else to sign in, and back), elevation where the
page shows whole-school records (else to elevate, and back), and the CSRF token every form
posts back.

`next` is only ever a path of this site: anything with a scheme, a host or a leading `//` is
ignored, so a link cannot send a member of staff elsewhere after they sign in.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from aiohttp import web

from shared import access
from shared.access import Viewer
from shared.auth import state
from shared.auth.sessions import Session, cookie_value
from shared.problems import Forbidden
from shared.web import request_pool

MAX_NEXT = 500
# The signed-in person's roles, for the layout's menu (what they can reach, nothing more).
ROLES = web.RequestKey("roles", frozenset)
# Who they are to the need-to-know policy, loaded once per page by `staff_session`.
VIEWER = web.RequestKey("viewer", Viewer)


def safe_next(raw: str | None, default: str = "/") -> str:
    """`raw` if it is a relative path of this site, else `default`."""
    if not raw or len(raw) > MAX_NEXT or not raw.startswith("/") or raw.startswith("//"):
        return default
    if "\\" in raw or any(ord(c) < 0x21 or c == "\x7f" for c in raw):
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return default
    return raw


def to_login(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")


def to_login_error() -> web.HTTPSeeOther:
    """The account behind a live session is no longer active: sign in again."""
    return web.HTTPSeeOther("/login?ended=1")


async def current_session(request: web.Request) -> Session | None:
    return await state.sessions(request).get(cookie_value(request))


async def staff_session(request: web.Request, elevated: bool = False) -> Session:
    """The page's session; redirects to sign in (or to elevate) and back when there is none."""
    s = await current_session(request)
    if s is None:
        raise to_login(request)
    if s.enrol_only and request.path != "/enrol":
        raise web.HTTPSeeOther("/enrol")
    if elevated and not s.elevated:
        raise web.HTTPSeeOther(f"/elevate?next={quote(request.path_qs, safe='')}")
    async with request_pool(request).acquire() as conn:
        viewer = await access.load_viewer(conn, s.staff_id, s.elevated)
    if viewer is None or viewer.school_id != s.school_id:
        raise to_login_error()
    request[ROLES] = viewer.roles
    request[VIEWER] = viewer
    return s


def viewer(request: web.Request) -> Viewer:
    """The page's viewer (`staff_session` first): no incident grants yet."""
    return request[VIEWER]


def check_form(form: Mapping[str, object], s: Session) -> None:
    """A form posted with the session cookie must carry the session's CSRF token."""
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), s.csrf_token.encode()):
        raise Forbidden("This form has expired. Go back, reload the page and try again.")
