"""A school's own categories over the API and the page: slugs by DOMAIN's rule, restriction that
only ratchets where policy says, retirement (kept on old incidents, refused for new ones, no
longer offered), email-safe names in the alert emails, and every change audited."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from services.notifier import claims
from tests.admin.conftest import ADMIN, elevated, get, post, signed_in
from tests.ingest.conftest import incident
from tests.support import world

ONLINE = {
    "name": "Online safety",
    "group": "cause-for-concern",
    "restricted": False,
    "email_name": "Pastoral note",
}


def path(school, rest=""):
    return f"/v1/schools/{school.id}/categories{rest}"


async def test_add_list_and_change_with_the_platform_token(client, school, pg):
    r = await client.post(path(school), json=ONLINE, headers=ADMIN)
    assert r.status == 201, await r.text()
    added = await r.json()
    assert added == {
        "slug": "cause-for-concern/online-safety",
        "name": "Online safety",
        "group": "cause-for-concern",
        "restricted": False,
        "email_name": "Pastoral note",
        "retired": False,
        "custom": True,
    }
    listed = await (await client.get(path(school), headers=ADMIN)).json()
    assert added in listed and any(c["slug"] == "safeguarding/cp-plan" for c in listed)
    r = await client.patch(
        path(school, "/cause-for-concern/online-safety"),
        json={"email_name": "Note"},
        headers=ADMIN,
    )
    assert r.status == 200 and (await r.json())["email_name"] == "Note"
    # A school's API key sees its own beside the defaults, with the new fields.
    seen = await (await client.get("/v1/categories", headers=school.headers)).json()
    mine = next(c for c in seen if c["slug"] == added["slug"])
    assert mine["parent"] == mine["group"] == "cause-for-concern" and mine["custom"] is True
    assert mine["email_name"] == "Note" and mine["retired"] is False
    audit = await pg.fetch(
        "SELECT action, detail FROM audit_log WHERE school_id = $1 AND action LIKE 'admin.%' "
        "ORDER BY id",
        school.id,
    )
    assert [a["action"] for a in audit] == ["admin.categories.add", "admin.categories.change"]
    change = json.loads(audit[1]["detail"])
    assert change["by"] == "platform"
    assert (
        change["before"]["email_name"] == "Pastoral note"
        and change["after"]["email_name"] == "Note"
    )


async def test_a_group_and_its_slug_rule(client, school):
    r = await client.post(path(school), json={"name": "Well-being & Care!"}, headers=ADMIN)
    assert r.status == 201 and (await r.json())["slug"] == "well-being-care"
    r = await client.post(
        path(school), json={"name": "1:1  check-in", "group": "Well-being & Care!"}, headers=ADMIN
    )
    assert (await r.json())["slug"] == "well-being-care/1-1-check-in"
    again = await client.post(
        path(school), json={"name": "1:1 Check in", "group": "well-being-care"}, headers=ADMIN
    )
    assert again.status == 409  # the same slug: never reused, never changed
    unknown = await client.post(path(school), json={"name": "X", "group": "nope"}, headers=ADMIN)
    assert unknown.status == 422 and (await unknown.json())["field"] == "group"


async def test_restriction_ratchets_where_policy_says(client, school):
    r = await client.post(
        path(school), json={"name": "Online grooming", "group": "safeguarding"}, headers=ADMIN
    )
    assert (await r.json())["restricted"] is True  # a restricted group's category is restricted
    for slug in ("safeguarding/online-grooming", "safeguarding/cp-plan", "slt"):
        r = await client.patch(path(school, f"/{slug}"), json={"restricted": False}, headers=ADMIN)
        assert r.status == 422 and (await r.json())["field"] == "restricted", slug
    await client.post(path(school), json={"name": "Staff concerns"}, headers=ADMIN)
    await client.post(path(school), json={"name": "Note", "group": "staff-concerns"}, headers=ADMIN)
    r = await client.patch(
        path(school, "/staff-concerns"), json={"restricted": True}, headers=ADMIN
    )
    assert r.status == 200
    listed = {c["slug"]: c for c in await (await client.get(path(school), headers=ADMIN)).json()}
    assert listed["staff-concerns/note"]["restricted"] is True  # the group's categories follow


async def test_a_retired_category_stays_on_old_incidents_and_is_refused_for_new_ones(
    client, school, pg
):
    old = await client.post("/v1/incidents", json=incident(), headers=school.headers)
    assert old.status == 201
    r = await client.patch(
        path(school, "/cause-for-concern/injury-bruise"), json={"retired": True}, headers=ADMIN
    )
    assert r.status == 200 and (await r.json())["retired"] is True
    refused = await client.post("/v1/incidents", json=incident(), headers=school.headers)
    assert refused.status == 422 and (await refused.json())["field"] == "categories"
    kept = await client.get(f"/v1/incidents/{(await old.json())['id']}", headers=school.headers)
    assert (await kept.json())["categories"] == ["cause-for-concern/injury-bruise"]
    # Record a concern no longer offers it; a retired group takes its categories with it.
    teacher = await signed_in(client, school, "S06")
    form = unescape(await (await get(teacher, "/incidents/new")).text())
    assert 'value="cause-for-concern/injury-bruise"' not in form
    assert 'value="cause-for-concern/mental-health"' in form
    await client.patch(path(school, "/behaviour"), json={"retired": True}, headers=ADMIN)
    form = unescape(await (await get(teacher, "/incidents/new")).text())
    assert "behaviour/" not in form
    back = await client.patch(
        path(school, "/behaviour/positive-behaviour"), json={"retired": False}, headers=ADMIN
    )
    assert back.status == 422 and (await back.json())["field"] == "retired"


@pytest.mark.parametrize(
    "who, status",
    [("admin", 201), ("other school's admin", 404), ("teacher", 404), ("not elevated", 404)],
)
async def test_who_may_administer_categories(client, schools, who, status):
    home, away = schools
    browser = {
        "admin": lambda: elevated(client, home),
        "other school's admin": lambda: elevated(client, away),
        "teacher": lambda: elevated(client, home, "S06"),
        "not elevated": lambda: signed_in(client, home, "S09"),
    }[who]
    session = await browser()
    r = await session.request("POST", path(home), ONLINE)
    assert r.status == status, await r.text()
    listed = await session.request("GET", path(home))
    assert listed.status == (200 if status == 201 else 404)


async def test_the_session_admins_changes_are_audited_as_theirs(client, school, pg):
    admin = await elevated(client, school)
    assert (await admin.request("POST", path(school), ONLINE)).status == 201
    row = await pg.fetchrow(
        "SELECT actor_staff_id, detail FROM audit_log WHERE action = 'admin.categories.add'"
    )
    assert row["actor_staff_id"] == school.staff["S09"]
    assert json.loads(row["detail"])["by"] == "session"


async def test_the_page_adds_and_changes_a_category(client, school):
    admin = await elevated(client, school)
    page = await get(admin, "/admin/categories")
    assert page.status == 200 and "Cause for concern" in await page.text()
    fields = [
        ("name", "Online safety"),
        ("group", "cause-for-concern"),
        ("email_name", "Pastoral note"),
    ]
    r = await post(admin, "/admin/categories", fields)
    assert r.status == 303, await r.text()
    listed = unescape(await (await get(admin, r.headers["Location"])).text())
    assert "Category added: cause-for-concern/online-safety" in listed and "Pastoral note" in listed
    bad = await post(
        admin, "/admin/categories", [("name", "Online safety"), ("group", "cause-for-concern")]
    )
    assert bad.status == 400 and "already exists" in await bad.text()
    change = await get(admin, "/admin/categories/change?slug=cause-for-concern/online-safety")
    assert change.status == 200 and 'value="Pastoral note"' in await change.text()
    r = await post(
        admin,
        "/admin/categories/change",
        [("slug", "cause-for-concern/online-safety"), ("email_name", "Note"), ("retired", "yes")],
    )
    assert r.status == 303
    listed = await (await client.get(path(school), headers=ADMIN)).json()
    mine = next(c for c in listed if c["slug"] == "cause-for-concern/online-safety")
    assert mine["email_name"] == "Note" and mine["retired"] is True


async def test_the_pages_are_the_admins_only(client, schools):
    home, away = schools
    teacher = await elevated(client, home, "S06")
    other = await elevated(client, away)
    for path_ in ("/admin/categories", "/admin/rules", "/admin/calendar"):
        assert (await get(teacher, path_)).status == 404, path_
        assert (await get(other, f"{path_}?school={home.id}")).status == 404, path_
    not_elevated = await signed_in(client, home, "S09")
    r = await get(not_elevated, "/admin/categories")
    assert r.status == 303 and r.headers["Location"].startswith("/elevate")


# -- What the emails say -----------------------------------------------------------------------


async def _emailed(pg, school, categories, author="S06"):
    async with pg.acquire() as conn:
        recorded = await world.record_incident(conn, school, author, "P0001", categories)
        await world.resolve_alerts(conn, recorded.event)
        mails = await claims.claim_due(conn, 100, 30)
    assert mails, "nobody was alerted"
    return {mail.categories for mail, _ in mails}


async def test_an_email_safe_name_is_all_the_email_says(client, school, pg):
    assert (await client.post(path(school), json=ONLINE, headers=ADMIN)).status == 201
    assert await _emailed(pg, school, ["cause-for-concern/online-safety"]) == {"Pastoral note"}


async def test_restricted_ones_say_their_group_or_its_email_safe_name(client, school, pg):
    new = {"name": "Online grooming", "group": "safeguarding"}
    assert (await client.post(path(school), json=new, headers=ADMIN)).status == 201
    texts = await _emailed(pg, school, ["safeguarding/online-grooming"], "S04")
    assert texts == {"Safeguarding"}
    await client.patch(
        path(school, "/safeguarding"), json={"email_name": "Wellbeing"}, headers=ADMIN
    )
    texts = await _emailed(pg, school, ["safeguarding/operation-encompass"], "S04")
    assert texts == {"Wellbeing"}
    assert not any(re.search("Encompass|grooming|Safeguarding", t) for t in texts)
