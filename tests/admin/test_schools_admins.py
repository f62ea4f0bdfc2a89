"""A school's own admins: POST /v1/schools makes the first one and emails them a link; an
elevated admin session administers its school through the same /v1/schools/{id}/... endpoints
as the platform token, anyone else gets 404; the admin role reads no incidents; every change is
in GET /v1/schools/{id}/audit?kind=admin, newest first."""

from __future__ import annotations

import re

import pytest

from shared import access
from shared.access import IncidentFacts, Viewer
from shared.domain import Role
from tests.admin.clients import PASSWORD, client, elevated, page, signed_in
from tests.ingest.conftest import ADMIN
from tests.support.roster import roster
from tests.support.until import until
from tests.support.world import record_incident, set_passwords

__all__ = ["client"]  # the app fixture

NEW_ADMIN = {"email": "ivy.admin@new.example", "first_name": "Ivy", "last_name": "Admin"}


async def _set_password_from_email(client, smtp_sink, email):
    async def arrived():
        return [m for m in smtp_sink.messages if email in m.recipients]

    messages = await until(arrived, timeout=10)
    text = "".join(
        part.get_payload(decode=True).decode()
        for part in messages[-1].message.walk()
        if part.get_content_type() == "text/plain"
    )
    token = re.search(r"/reset/([A-Za-z0-9_\-]+)", text)[1]
    r = await client.post(f"/v1/password-reset/{token}", json={"password": PASSWORD})
    assert r.status == 204, await r.text()


async def test_a_new_school_gets_its_first_admin_who_is_emailed_a_link(client, pg, smtp_sink):
    r = await client.post(
        "/v1/schools", json={"name": "New Primary", "admin": NEW_ADMIN}, headers=ADMIN
    )
    assert r.status == 201, await r.text()
    body = await r.json()
    school_id, admin_id = body["id"], body["admin"]
    row = await pg.fetchrow("SELECT * FROM staff WHERE id = $1", admin_id)
    assert str(row["school_id"]) == school_id
    assert row["roles"] == ["admin"] and row["external_id"] == "ADMIN1" and row["active"]
    await _set_password_from_email(client, smtp_sink, NEW_ADMIN["email"])
    # They sign in, elevate and administer their school: the audit lists the school's creation.
    admin = await elevated(client, NEW_ADMIN["email"])
    r = await admin.request("GET", f"/v1/schools/{school_id}/audit?kind=admin")
    assert r.status == 200, await r.text()
    changes = await r.json()
    assert changes[0]["what"] == "school.created" and changes[0]["who"]["by"] == "platform"
    assert changes[0]["after"]["admin"] == admin_id
    # A roster that does not name them leaves them be; one that does adopts them.
    data = roster()
    r = await admin.request("PUT", f"/v1/schools/{school_id}/roster", data)
    assert r.status == 200, await r.text()
    assert await pg.fetchval("SELECT active FROM staff WHERE id = $1", admin_id) is True
    data["staff"].append(
        {"id": "S77", **{k: NEW_ADMIN[k] for k in NEW_ADMIN}, "initials": "IA", "roles": ["admin"]}
    )
    r = await client.put(f"/v1/schools/{school_id}/roster", json=data, headers=ADMIN)
    assert r.status == 200, await r.text()
    adopted = await pg.fetchrow(
        "SELECT external_id, active, outside_roster FROM staff WHERE id = $1", admin_id
    )
    assert tuple(adopted) == ("S77", True, False)
    r = await admin.request("GET", f"/v1/schools/{school_id}/audit?kind=admin")
    changes = await r.json()
    assert [c["what"] for c in changes][:3] == ["roster.import", "roster.import", "school.created"]
    assert changes[0]["who"] == {"by": "platform", "staff": None}
    assert changes[1]["who"] == {"by": "session", "staff": "S77", "name": "Ivy Admin"}
    assert changes[1]["after"]["staff"] == 9


async def test_a_school_without_an_admin_is_made_as_before(client):
    r = await client.post("/v1/schools", json={"name": "Plain"}, headers=ADMIN)
    assert r.status == 201
    assert set(await r.json()) == {"id", "name"}
    bad = {"name": "X", "admin": {"email": "not-an-email", "first_name": "A", "last_name": "B"}}
    r = await client.post("/v1/schools", json=bad, headers=ADMIN)
    assert r.status == 422 and (await r.json())["field"] == "admin.email"


@pytest.fixture
async def two_schools(pg):
    from tests.support.world import seed_school

    async with pg.acquire() as conn:
        home = await seed_school(conn)
        away = await seed_school(conn, "Elmwood Academy", email_domain="elmwood.example")
        for s in (home, away):
            await set_passwords(conn, s, PASSWORD)
        home.incidents["one"] = (await record_incident(conn, home, "S06", "P0001")).id
    return home, away


async def test_only_an_elevated_admin_of_that_school_administers_it(client, two_schools):
    home, away = two_schools
    audit = f"/v1/schools/{home.id}/audit"
    assert (await client.get(audit, headers=ADMIN)).status == 200
    # Not elevated: no such school. Elevated: theirs only.
    plain = await signed_in(client, home.emails["S09"])
    assert (await plain.request("GET", audit)).status == 404
    admin = await elevated(client, home.emails["S09"])
    assert (await admin.request("GET", audit)).status == 200
    assert (await admin.request("GET", f"/v1/schools/{away.id}/audit")).status == 404
    r = await admin.request("PUT", f"/v1/schools/{away.id}/roster", roster())
    assert r.status == 404
    # Whole-school staff who are not admins administer nothing.
    dsl = await elevated(client, home.emails["S04"])
    assert (await dsl.request("GET", audit)).status == 404
    assert (await page(dsl, "/admin")).status == 404
    # The admin's session without its CSRF token changes nothing.
    r = await admin.request("PUT", f"/v1/schools/{home.id}/roster", roster(), csrf=False)
    assert r.status == 403


async def test_the_admin_role_reads_no_incidents(client, two_schools):
    home, _ = two_schools
    admin = await elevated(client, home.emails["S09"])
    r = await admin.request("GET", f"/v1/incidents/{home.incidents['one']}")
    assert r.status == 404
    r = await admin.request("GET", "/v1/pupils/P0001/chronology")
    assert r.status in (403, 404)
    viewer = Viewer(
        school_id=home.id, staff_id=home.staff["S09"], roles=frozenset({Role.ADMIN}), elevated=True
    )
    facts = IncidentFacts(
        id=home.incidents["one"],
        school_id=home.id,
        pupil_id=home.pupils["P0001"],
        api_key_id=None,
        restricted=False,
        linked_pupil_ids=frozenset(),
    )
    assert not access.can_view_incident(viewer, facts)
    assert not viewer.sees_whole_school


async def test_the_admin_landing_page_links_every_area(client, two_schools):
    home, _ = two_schools
    admin = await elevated(client, home.emails["S09"])
    r = await page(admin, "/admin")
    assert r.status == 200, await r.text()
    html = await r.text()
    for href in (
        "/admin/staff",
        "/admin/roster",
        "/admin/categories",
        "/admin/rules",
        "/admin/calendar",
        "/admin/keys",
        "/admin/pending-roles",
    ):
        assert f'href="{href}"' in html, href
    # Not elevated: to elevate first, and back.
    plain = await signed_in(client, home.emails["S09"])
    r = await page(plain, "/admin")
    assert r.status == 303 and r.headers["Location"].startswith("/elevate?next=")


async def test_audit_kind_and_limit_are_checked(client, two_schools):
    home, _ = two_schools
    r = await client.get(f"/v1/schools/{home.id}/audit?kind=views", headers=ADMIN)
    assert r.status == 422
    r = await client.get(f"/v1/schools/{home.id}/audit?limit=0", headers=ADMIN)
    assert r.status == 422
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/v1/schools/{missing}/audit", headers=ADMIN)).status == 404
