"""Minimal server-rendered pages that wrap the staff JSON API (login, reset, enrol, elevate).

The pages hold no logic of their own: beacon.js calls the /v1 endpoints with the CSRF token the
page carries. Every page is `no-store`, refuses framing and runs only our own script, and the
reset page sends no Referer, so its token cannot leak to another site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from shared.auth import state
from shared.auth.sessions import Session, cookie_value

TEMPLATES = web.AppKey("staff_templates", jinja2.Environment)
_HERE = Path(__file__).parent
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
POLICY_TEXT = {
    "school": "At least {n} characters, with lower and upper case letters, a digit and a symbol.",
    "ncsc": "At least {n} characters; a few unrelated words make a good one.",
}


def add_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app, app_key=TEMPLATES, autoescape=True, loader=jinja2.FileSystemLoader(_HERE / "templates")
    )
    r = app.router
    r.add_get("/login", login_page)
    r.add_get("/reset", reset_request_page)
    r.add_get("/reset/{token}", reset_page)
    r.add_get("/home", signed_in_page("home.html"))
    r.add_get("/enrol", signed_in_page("enrol.html", allow_enrol_only=True))
    r.add_get("/elevate", signed_in_page("elevate.html"))
    # Where alert emails link to ({BEACON_BASE_URL}/alerts/{id}): sign in first, then home,
    # until the "my alerts" page exists.
    r.add_get("/alerts/{alert_id}", signed_in_page("home.html"))
    r.add_static("/static/staff/", _HERE / "static", append_version=False)


def _render(name: str, request: web.Request, context: dict[str, Any]) -> web.Response:
    response = aiohttp_jinja2.render_template(name, request, context, app_key=TEMPLATES)
    response.headers.update(_HEADERS)
    return response


async def login_page(request: web.Request) -> web.Response:
    ended = "Your session ended. Sign in again." if "ended" in request.query else ""
    return _render("login.html", request, {"message": ended})


async def reset_request_page(request: web.Request) -> web.Response:
    return _render("reset_request.html", request, {})


async def reset_page(request: web.Request) -> web.Response:
    # The rules shown are the default policy's; the API names any rule the school's breaks.
    return _render(
        "reset.html",
        request,
        {"token": request.match_info["token"], "rules": POLICY_TEXT["school"].format(n=8)},
    )


def signed_in_page(name: str, allow_enrol_only: bool = False) -> Any:
    async def page(request: web.Request) -> web.StreamResponse:
        s = await state.sessions(request).get(cookie_value(request))
        if s is None or (s.enrol_only and not allow_enrol_only):
            raise web.HTTPSeeOther("/login" if s is None else "/enrol")
        return _render(name, request, _context(s))

    return page


def _context(s: Session) -> dict[str, Any]:
    return {
        "signed_in": True,
        "csrf_token": s.csrf_token,
        "elevated": s.elevated,
        "idle_seconds": s.idle_seconds,
    }
