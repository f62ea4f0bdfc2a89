"""Every JSON endpoint ingest serves under /v1, in one table."""

from __future__ import annotations

from aiohttp import web

from services.ingest.api import (
    access_settings,
    actions,
    admin,
    alert_rules,
    api_keys,
    calendar,
    categories,
    chronology,
    devices,
    exports,
    files,
    incidents,
    login,
    openapi,
    password_reset,
    roster_csv,
    sars,
    schools,
)


def add_routes(app: web.Application) -> None:
    r = app.router
    # Schools, keys and rosters (the platform's admin token).
    r.add_post("/v1/schools", schools.post_school)
    r.add_get("/v1/schools/{school_id}/audit", schools.get_audit)
    r.add_post("/v1/trusts", schools.post_trust)
    r.add_put("/v1/schools/{school_id}/trust", schools.put_school_trust)
    r.add_post("/v1/trusts/{trust_id}/admins", schools.post_trust_admin)
    r.add_get("/v1/trusts/{trust_id}/schools", schools.get_trust_schools)
    r.add_post("/v1/schools/{school_id}/api-keys", api_keys.post_api_key)
    r.add_get("/v1/schools/{school_id}/api-keys", api_keys.get_api_keys)
    r.add_delete("/v1/schools/{school_id}/api-keys/{key_id}", api_keys.delete_api_key)
    r.add_put("/v1/schools/{school_id}/roster", admin.put_roster)
    r.add_post("/v1/schools/{school_id}/roster/preview", roster_csv.post_preview)
    r.add_post("/v1/schools/{school_id}/roster/confirm", roster_csv.post_confirm)
    r.add_get(alert_rules.PATH, alert_rules.get_rules)
    r.add_put(alert_rules.PATH, alert_rules.put_rules)
    r.add_get(categories.PATH, categories.get_school_categories)
    r.add_post(categories.PATH, categories.post_category)
    r.add_patch(categories.ONE_PATH, categories.patch_category)
    r.add_get(calendar.PATH, calendar.get_calendar)
    r.add_put(calendar.PATH, calendar.put_calendar)
    r.add_post(calendar.ICAL_PATH, calendar.post_ical)
    r.add_get(access_settings.PATH, access_settings.get_settings)
    r.add_put(access_settings.PATH, access_settings.put_settings)
    # Records (an API key or a staff session).
    r.add_get("/v1/categories", categories.get_categories)
    r.add_post("/v1/incidents", incidents.post_incident)
    r.add_get("/v1/incidents/{incident_id}", incidents.get_incident)
    r.add_post("/v1/incidents/{incident_id}/actions", actions.post_action)
    r.add_post("/v1/incidents/{incident_id}/files", files.post_file)
    r.add_get("/v1/incidents/{incident_id}/files/{file_id}", files.get_file)
    r.add_get("/v1/pupils/{pupil_id}/chronology", chronology.get_chronology)
    # Exports and reports (an elevated DSL/SLT session; the worker makes the file).
    r.add_post("/v1/pupils/{pupil_id}/exports", exports.post_pupil_export)
    r.add_post("/v1/schools/{school_id}/reports", exports.post_school_report)
    r.add_get("/v1/exports/{export_id}", exports.get_export)
    r.add_get("/v1/exports/{export_id}/file", exports.get_export_file)
    sars.add_routes(r)  # subject access requests: the register, its clock, its exports
    # Staff identity: passwords, sessions, authenticators.
    r.add_post("/v1/password-reset", password_reset.post_reset_request)
    r.add_post("/v1/password-reset/{token}", password_reset.post_reset)
    r.add_post("/v1/session", login.post_session)
    r.add_delete("/v1/session", login.delete_session)
    r.add_post("/v1/session/elevate", login.post_elevate)
    r.add_post("/v1/me/totp", devices.post_enrol)
    r.add_get("/v1/me/totp", devices.get_my_devices)
    r.add_post("/v1/me/totp/confirm", devices.post_confirm)
    r.add_delete("/v1/staff/{staff}/totp/{device_id}", devices.delete_device)
    r.add_get("/v1/openapi.json", openapi.get_document)
