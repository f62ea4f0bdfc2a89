"""The API-key endpoints take a school administrator's elevated session beside the platform
token (every /v1/schools/{id}/... endpoint does); anyone else is told the school does not
exist; creating and revoking are audited with who and what, never the key itself."""

from __future__ import annotations

import json

from tests.admin.clients import PASSWORD, client, elevated, signed_in
from tests.support.world import seed_school, set_passwords

__all__ = ["client"]  # the app fixture


async def test_an_elevated_admin_creates_lists_and_revokes_keys(client, pg):
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        other = await seed_school(conn, "Elmwood Academy", email_domain="elmwood.example")
        await set_passwords(conn, school, PASSWORD)
        await set_passwords(conn, other, PASSWORD)
    path = f"/v1/schools/{school.id}/api-keys"
    admin = await elevated(client, school.emails["S09"])
    r = await admin.request("POST", path, {"name": "behaviour app", "scopes": ["incidents:write"]})
    assert r.status == 201, await r.text()
    made = await r.json()
    assert made["scopes"] == ["incidents:write"] and made["key"].startswith("bk_")
    listed = await (await admin.request("GET", path)).json()
    assert made["id"] in {k["id"] for k in listed} and all("key" not in k for k in listed)
    r = await admin.request("DELETE", f"{path}/{made['id']}")
    assert r.status == 204
    r = await client.get("/v1/categories", headers={"Authorization": f"Bearer {made['key']}"})
    assert r.status == 401  # revoked at once
    rows = await pg.fetch(
        "SELECT action, detail FROM audit_log WHERE action LIKE 'admin.api_keys.%' ORDER BY seq"
    )
    assert [r["action"] for r in rows] == ["admin.api_keys.create", "admin.api_keys.revoke"]
    assert made["key"] not in json.dumps([json.loads(r["detail"]) for r in rows])
    # A teacher, an admin not elevated and another school's elevated admin: no such school.
    teacher = await signed_in(client, school.emails["S06"])
    assert (await teacher.request("GET", path)).status == 404
    unelevated = await signed_in(client, school.emails["S09"])
    assert (await unelevated.request("GET", path)).status == 404
    stranger = await elevated(client, other.emails["S09"])
    assert (await stranger.request("POST", path, {"name": "x"})).status == 404
