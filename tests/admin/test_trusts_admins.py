"""Trusts: a school belongs to at most one; a trust admin (a member of staff of one of its
schools, on its central team) administers every school of the trust as a school admin would,
and nothing else; nobody sees another trust's schools."""

from __future__ import annotations

import pytest

from tests.admin.clients import PASSWORD, client, elevated, page
from tests.ingest.conftest import ADMIN
from tests.support.roster import roster
from tests.support.world import seed_school, set_passwords

__all__ = ["client"]


@pytest.fixture
async def schools(pg):
    async with pg.acquire() as conn:
        made = [
            await seed_school(conn, name, email_domain=f"{name.split()[0].lower()}.example")
            for name in ("Ash Primary", "Birch Primary", "Cedar Primary")
        ]
        for s in made:
            await set_passwords(conn, s, PASSWORD)
    return made


async def test_a_trust_admin_runs_the_trusts_schools_and_nothing_else(client, schools, pg):
    ash, birch, cedar = schools
    r = await client.post("/v1/trusts", json={"name": "Woodland Trust"}, headers=ADMIN)
    assert r.status == 201, await r.text()
    trust = (await r.json())["id"]
    r = await client.post("/v1/trusts", json={"name": "Other Trust"}, headers=ADMIN)
    other = (await r.json())["id"]
    for s in (ash, birch):
        r = await client.put(f"/v1/schools/{s.id}/trust", json={"trust": trust}, headers=ADMIN)
        assert r.status == 200, await r.text()
    await client.put(f"/v1/schools/{cedar.id}/trust", json={"trust": other}, headers=ADMIN)
    # Only staff of one of the trust's schools join its central team.
    body = {"school": str(cedar.id), "staff": "S02"}
    r = await client.post(f"/v1/trusts/{trust}/admins", json=body, headers=ADMIN)
    assert r.status == 422
    body = {"school": str(ash.id), "staff": "S02"}
    r = await client.post(f"/v1/trusts/{trust}/admins", json=body, headers=ADMIN)
    assert r.status == 201, await r.text()

    central = await elevated(client, ash.emails["S02"])
    for s in (ash, birch):
        r = await central.request("GET", f"/v1/schools/{s.id}/audit")
        assert r.status == 200, s.name
    r = await central.request("PUT", f"/v1/schools/{birch.id}/roster", roster())
    assert r.status == 200, await r.text()
    assert (await central.request("GET", f"/v1/schools/{cedar.id}/audit")).status == 404
    r = await central.request("GET", f"/v1/trusts/{trust}/schools")
    assert sorted(x["name"] for x in await r.json()) == ["Ash Primary", "Birch Primary"]
    assert (await central.request("GET", f"/v1/trusts/{other}/schools")).status == 404
    # The pages: the trust's schools listed and administered; another trust's not found.
    html = await (await page(central, "/admin")).text()
    assert f"/admin?school={birch.id}" in html and str(cedar.id) not in html
    r = await page(central, f"/admin/staff?school={birch.id}")
    assert r.status == 200 and str(birch.staff["S06"]) in await r.text()
    assert (await page(central, f"/admin/staff?school={cedar.id}")).status == 404
    # A school admin of Cedar sees nothing of the trust's.
    cedar_admin = await elevated(client, cedar.emails["S09"])
    assert (await cedar_admin.request("GET", f"/v1/schools/{ash.id}/audit")).status == 404
    assert (await cedar_admin.request("GET", f"/v1/trusts/{trust}/schools")).status == 404
    # Leaving the trust ends the central team's hold at once.
    await client.put(f"/v1/schools/{birch.id}/trust", json={"trust": None}, headers=ADMIN)
    assert (await central.request("GET", f"/v1/schools/{birch.id}/audit")).status == 404
    r = await client.get(f"/v1/schools/{birch.id}/audit", headers=ADMIN)
    assert [c["what"] for c in await r.json()][0] == "school.trust"


async def test_trust_endpoints_need_the_platform_token(client, schools):
    ash = schools[0]
    admin = await elevated(client, ash.emails["S09"])
    assert (await admin.request("POST", "/v1/trusts", {"name": "Mine"})).status == 401
    r = await admin.request("PUT", f"/v1/schools/{ash.id}/trust", {"trust": None})
    assert r.status == 401
    r = await client.put(f"/v1/schools/{ash.id}/trust", json={"trust": "nope"}, headers=ADMIN)
    assert r.status == 422
    missing = "00000000-0000-0000-0000-000000000000"
    r = await client.put(f"/v1/schools/{missing}/trust", json={"trust": None}, headers=ADMIN)
    assert r.status == 404
