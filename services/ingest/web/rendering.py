"""Rendering a staff page: the template environment, the headers every page carries, and the
context every page's layout needs (who is signed in, their CSRF token, the idle timeout).

Every page is `no-store` (records must not sit in a browser cache), refuses framing, runs only
our own script and sends no Referer (a reset link's token must not leak to another site).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from services.ingest.web.guard import ROLES
from shared.auth.sessions import Session
from shared.domain import PRIVILEGED_ROLES, Role

TEMPLATES = web.AppKey("staff_templates", jinja2.Environment)
HERE = Path(__file__).parent
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        app_key=TEMPLATES,
        autoescape=True,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = when
    env.filters["day"] = day


def render(
    request: web.Request,
    name: str,
    context: dict[str, Any],
    session: Session | None = None,
    status: int = 200,
) -> web.Response:
    layout: dict[str, Any] = {
        "session": session,
        "signed_in": session is not None,
        "csrf_token": session.csrf_token if session else "",
        "elevated": bool(session and session.elevated),
        "idle_seconds": session.idle_seconds if session else 0,
        "here": request.path_qs,
        "path": request.path,
        "menu": _menu(request.get(ROLES, frozenset())),
        "errors": {},
        "error_list": [],
        "banner": "",
    }
    response = aiohttp_jinja2.render_template(
        name, request, {**layout, **context}, app_key=TEMPLATES, status=status
    )
    response.headers.update(PAGE_HEADERS)
    return response


_LEADS = frozenset({Role.DSL, Role.DEPUTY_DSL, Role.SLT, Role.HEAD})


def _menu(roles: frozenset[str]) -> dict[str, bool]:
    """What the header offers: only what this person can reach."""
    return {
        "records": bool(roles - {Role.ADMIN}),
        "leads": bool(roles & _LEADS),
        "admin": Role.ADMIN in roles,
        "elevates": bool(roles & (PRIVILEGED_ROLES | {Role.ADMIN})),
    }


def when(value: Any) -> str:
    """'1 December 2026, 14:05' (UK style), for timestamps on pages."""
    if value is None:
        return ""
    local = value.astimezone(_LONDON)
    return f"{local.day} {local:%B %Y, %H:%M}"


def day(value: Any) -> str:
    return "" if value is None else f"{value.day} {value:%B %Y}"


def _london() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/London")


_LONDON = _london()
