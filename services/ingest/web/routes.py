"""Every staff page, in one table."""

from __future__ import annotations

from aiohttp import web

from services.ingest.web import (
    admin,
    admin_calendar,
    admin_categories,
    admin_keys,
    admin_pending,
    admin_roster,
    admin_rules,
    admin_staff,
    alerts,
    errors,
    exports,
    incidents,
    pupils,
    rendering,
    reports,
    safeguarding,
    sars,
    signin,
)


def add_pages(app: web.Application) -> None:
    rendering.setup(app)
    app.middlewares.append(errors.page_errors)
    r = app.router
    signin.add_routes(r)
    alerts.add_routes(r)
    incidents.add_routes(r)
    pupils.add_routes(r)
    safeguarding.add_routes(r)
    exports.add_routes(r)
    reports.add_routes(r)
    sars.add_routes(r)
    admin.add_routes(r)
    admin_roster.add_routes(r)
    admin_staff.add_routes(r)
    admin_pending.add_routes(r)
    admin_keys.add_routes(r)
    admin_categories.add_routes(r)
    admin_rules.add_routes(r)
    admin_calendar.add_routes(r)
    r.add_static("/static/staff/", rendering.HERE / "static", append_version=False)


def served(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every page the router serves, for the OpenAPI document."""
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or path.startswith(("/v1/", "/static/")):
            continue
        if path in ("/healthz", "/readyz", "/metrics"):
            continue
        found.append((route.method, path))
    return found
