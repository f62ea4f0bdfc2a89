"""Staff accounts on /admin/staff (roles, last sign-in, devices; a set-password link; a lost
authenticator removed; someone made inactive, signed out at once), and the two-person rule for
power: once a school has a head or a DSL a privileged role newly given by an import waits for
the head or a DSL, who confirms or declines it on /admin/pending-roles."""

from __future__ import annotations

import pytest

from tests.admin.clients import PASSWORD, client, elevated, page, post_form, signed_in
from tests.ingest.conftest import ADMIN
from tests.support.roster import roster
from tests.support.until import until
from tests.support.world import seed_school, set_passwords

__all__ = ["client"]


@pytest.fixture
async def school(pg):
    async with pg.acquire() as conn:
        s = await seed_school(conn)
        await set_passwords(conn, s, PASSWORD)
    return s


def _promoted(staff_id: str, *roles: str) -> dict:
    data = roster()
    for s in data["staff"]:
        if s["id"] == staff_id:
            s["roles"] = sorted({*s["roles"], *roles})
    return data


async def _roles(pg, external_id):
    return await pg.fetchval("SELECT roles FROM staff WHERE external_id = $1", external_id)


async def test_a_first_import_applies_as_it_is(pg):
    school = await seed_school(pg, "New School")
    assert await _roles(pg, "S04") == ["dsl", "teacher"]
    assert (
        await pg.fetchval("SELECT count(*) FROM pending_roles WHERE school_id = $1", school.id) == 0
    )


async def test_new_power_waits_for_the_head_or_a_dsl(client, school, pg):
    url = f"/v1/schools/{school.id}/roster"
    r = await client.put(url, json=_promoted("S06", "dsl"), headers=ADMIN)
    assert r.status == 200, await r.text()
    assert await _roles(pg, "S06") == ["teacher"]  # the other roles stand
    r = await client.put(url, json=_promoted("S06", "dsl"), headers=ADMIN)  # asked once
    assert await pg.fetchval("SELECT count(*) FROM pending_roles") == 1
    # Listed for the admin (who cannot decide) and for the DSL (who can).
    admin = await elevated(client, school.emails["S09"])
    html = await (await page(admin, "/admin/pending-roles")).text()
    assert "Finn Teacher" in html and "/confirm" not in html
    assert "1 role is waiting" in await (await page(admin, "/admin")).text()
    dsl = await elevated(client, school.emails["S04"])
    html = await (await page(dsl, "/admin/pending-roles")).text()
    pending = html.split('action="/admin/pending-roles/')[1].split("/")[0]
    # Not the person it is for, nor a teacher, nor the admin.
    r = await post_form(admin, f"/admin/pending-roles/{pending}/confirm")
    assert r.status == 404
    r = await post_form(dsl, f"/admin/pending-roles/{pending}/confirm")
    assert r.status == 303, await r.text()
    assert await _roles(pg, "S06") == ["dsl", "teacher"]
    # The next import keeps it; the request and confirmation are in the admin audit.
    await client.put(url, json=_promoted("S06", "dsl"), headers=ADMIN)
    assert await _roles(pg, "S06") == ["dsl", "teacher"]
    r = await client.get(f"/v1/schools/{school.id}/audit", headers=ADMIN)
    changes = {c["what"]: c for c in await r.json()}
    assert changes["roles.confirmed"]["who"]["staff"] == "S04"
    assert changes["roles.confirmed"]["after"] == ["dsl", "teacher"]
    assert changes["roles.requested"]["after"] == "dsl"


async def test_a_declined_or_dropped_role_is_not_given(client, school, pg):
    url = f"/v1/schools/{school.id}/roster"
    await client.put(url, json=_promoted("S07", "slt", "pastoral"), headers=ADMIN)
    head = await elevated(client, school.emails["S01"])
    html = await (await page(head, "/admin/pending-roles")).text()
    first = html.split('action="/admin/pending-roles/')[1].split("/")[0]
    assert (await post_form(head, f"/admin/pending-roles/{first}/decline")).status == 303
    await client.put(url, json=roster(), headers=ADMIN)  # the MIS drops the other one
    assert await _roles(pg, "S07") == ["teacher"]
    decisions = await pg.fetch("SELECT decision FROM pending_roles ORDER BY decision")
    assert [d["decision"] for d in decisions] == ["declined", "withdrawn"]


async def test_nobody_confirms_their_own_power(client, school, pg):
    url = f"/v1/schools/{school.id}/roster"
    await client.put(url, json=_promoted("S04", "head"), headers=ADMIN)
    dsl = await elevated(client, school.emails["S04"])
    html = await (await page(dsl, "/admin/pending-roles")).text()
    assert "Someone else must decide this one." in html
    pending = await pg.fetchval("SELECT id FROM pending_roles")
    assert (await post_form(dsl, f"/admin/pending-roles/{pending}/confirm")).status == 404
    assert "head" not in await _roles(pg, "S04")


async def test_the_staff_page_and_its_actions(client, school, pg, smtp_sink):
    teacher = await elevated(client, school.emails["S06"])  # signs in and enrols a phone
    admin = await elevated(client, school.emails["S09"])
    r = await page(admin, "/admin/staff")
    assert r.status == 200, await r.text()
    html = await r.text()
    row = html.split('id="staff-S06"')[1].split("</tr>")[0]
    assert "Work phone" in row and "Never" not in row and "teacher" in row
    device = row.split("/devices/")[1].split("/")[0]
    staff_id = str(school.staff["S06"])
    # A set-password link goes to them.
    r = await post_form(admin, f"/admin/staff/{staff_id}/set-password-link")
    assert r.status == 303 and r.headers["Location"] == "/admin/staff?done=link"
    await until(lambda: [m for m in smtp_sink.messages if school.emails["S06"] in m.recipients])
    # Removing the lost phone ends their sessions.
    r = await post_form(admin, f"/admin/staff/{staff_id}/devices/{device}/remove")
    assert r.status == 303
    assert (await teacher.request("GET", "/v1/me/totp")).status == 401
    # Made inactive: signed out, and cannot sign in.
    again = await signed_in(client, school.emails["S06"])
    r = await post_form(admin, f"/admin/staff/{staff_id}/deactivate")
    assert r.status == 303
    assert (await again.request("GET", "/v1/me/totp")).status == 401
    assert await pg.fetchval("SELECT active FROM staff WHERE id = $1", school.staff["S06"]) is False
    r = await client.get(f"/v1/schools/{school.id}/audit", headers=ADMIN)
    whats = [c["what"] for c in await r.json()][:3]
    assert whats == ["staff.deactivated", "staff.device_removed", "staff.set_password_link"]
    # Another school's member of staff is not found.
    other = await seed_school(pg, "Elmwood", email_domain="elmwood.example")
    r = await post_form(admin, f"/admin/staff/{other.staff['S06']}/deactivate")
    assert r.status == 404


async def test_keys_page_creates_shows_once_and_revokes(client, school, pg):
    admin = await elevated(client, school.emails["S09"])
    r = await post_form(
        admin,
        "/admin/keys",
        {"name": "Behaviour app", "scopes": "incidents:write", "authors": "S06, S07"},
    )
    assert r.status == 200, await r.text()
    html = await r.text()
    key = html.split('id="new-key">')[1].split("<")[0]
    assert key.startswith("bk_")
    row = await pg.fetchrow("SELECT id, scopes, authors FROM api_keys WHERE name = 'Behaviour app'")
    assert row["scopes"] == ["incidents:write"] and row["authors"] == ["S06", "S07"]
    listing = await (await page(admin, "/admin/keys")).text()
    assert key not in listing and "Behaviour app" in listing
    assert (
        await client.get("/v1/categories", headers={"Authorization": f"Bearer {key}"})
    ).status == 200
    r = await post_form(admin, f"/admin/keys/{row['id']}/revoke")
    assert r.status == 303
    assert (
        await client.get("/v1/categories", headers={"Authorization": f"Bearer {key}"})
    ).status == 401
    r = await post_form(admin, "/admin/keys", {"name": ""})
    assert r.status == 400 and "Enter a name" in await r.text()
