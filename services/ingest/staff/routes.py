"""The staff endpoints (issue 4), added to an app built on shared.web.base_app.

services.ingest.app wires `add_routes` into the ingest app; `auth.caller` is the
session-or-API-key authentication every other /v1 endpoint (ingest and notifier) shares.
"""

from __future__ import annotations

from aiohttp import web

from services.ingest.staff import chronology, devices, login, reset, state
from services.ingest.staff.pages import add_pages
from services.ingest.staff.state import StaffConfig
from shared.identity import ApiKeyCache


def add_routes(
    app: web.Application,
    config: StaffConfig,
    pages: bool = True,
    api_keys: ApiKeyCache | None = None,
) -> None:
    """`config`: StaffConfig.from_settings(settings); `pages` adds the HTML pages (/login,
    /reset, /enrol, /elevate, /home) beside the API."""
    state.install(app, config, api_keys)
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
