"""The staff endpoints (issue 4), added to an app built on shared.web.base_app.

The lead wires `add_routes` into the ingest app; `auth.caller` is the session-or-API-key
authentication the other /v1 endpoints can share.
"""

from __future__ import annotations

from aiohttp import web

from services.ingest.staff import chronology, devices, login, reset, state
from services.ingest.staff.pages import add_pages
from services.ingest.staff.state import StaffConfig


def add_routes(app: web.Application, config: StaffConfig | None = None,
               pages: bool = True) -> None:
    """`config` defaults to the environment (BEACON_SECRET_KEY, BEACON_SESSION_IDLE_SECONDS);
    `pages` adds the HTML pages (/login, /reset, /enrol, /elevate, /home) beside the API."""
    state.install(app, config or StaffConfig.from_env())
    r = app.router
    r.add_post("/v1/password-reset", reset.post_reset_request)
    r.add_post("/v1/password-reset/{token}", reset.post_reset)
    r.add_post("/v1/session", login.post_session)
    r.add_delete("/v1/session", login.delete_session)
    r.add_post("/v1/session/elevate", login.post_elevate)
    r.add_post("/v1/me/totp", devices.post_enrol)
    r.add_get("/v1/me/totp", devices.get_my_devices)
    r.add_post("/v1/me/totp/confirm", devices.post_confirm)
    r.add_delete("/v1/staff/{staff}/totp/{device_id}", devices.delete_device)
    r.add_get("/v1/pupils/{pupil_id}/chronology", chronology.get_chronology)
    if pages:
        add_pages(app)
