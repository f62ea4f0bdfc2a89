"""Alert rules for a school's admin: the API with a session (audited with before and after), and
/admin/rules, validated as the API validates and previewed by the worker's rule function."""

from __future__ import annotations

import json
import re
from html import unescape

from tests.admin.conftest import ADMIN, elevated, get, post

DEFAULT_COUNT = 4  # 0002_defaults.sql


def rules_path(school):
    return f"/v1/schools/{school.id}/alert-rules"


async def _rules(client, school):
    return await (await client.get(rules_path(school), headers=ADMIN)).json()


async def test_an_admin_session_replaces_the_rules_audited(client, school, pg):
    admin = await elevated(client, school)
    before = await (await admin.request("GET", rules_path(school))).json()
    assert len(before) == DEFAULT_COUNT
    wanted = [{"event_kind": "incident", "category": "sen", "roles": ["teaching_assistant"]}]
    r = await admin.request("PUT", rules_path(school), wanted)
    assert r.status == 200, await r.text()
    row = await pg.fetchrow(
        "SELECT actor_staff_id, detail FROM audit_log WHERE action = 'admin.alert_rules.replace'"
    )
    detail = json.loads(row["detail"])
    assert row["actor_staff_id"] == school.staff["S09"] and detail["by"] == "session"
    assert len(detail["before"]) == DEFAULT_COUNT and detail["after"][0]["category"] == "sen"
    bad = await admin.request(
        "PUT", rules_path(school), [{"event_kind": "incident", "category": "nope"}]
    )
    assert bad.status == 422 and (await bad.json())["field"] == "rules[0].category"


async def test_others_get_404(client, schools):
    home, away = schools
    for browser in (await elevated(client, away), await elevated(client, home, "S04")):
        assert (await browser.request("GET", rules_path(home))).status == 404
        assert (await browser.request("PUT", rules_path(home), [])).status == 404
    assert len(await _rules(client, home)) == DEFAULT_COUNT


async def test_the_page_changes_adds_and_removes_rules(client, school):
    admin = await elevated(client, school)
    page = await get(admin, "/admin/rules")
    assert page.status == 200
    text = unescape(await page.text())
    assert "Every incident" in text and "the pupil’s class teachers" in text
    first = (await _rules(client, school))[0]
    edit = await get(admin, f"/admin/rules?edit={first['id']}")
    assert 'value="' + first["id"] + '"' in await edit.text()
    # Change the rule for every incident: no class teachers, DSLs too.
    fields = [("id", first["id"]), ("event_kind", "incident"), ("category", ""),
              ("roles", "slt"), ("roles", "dsl")]  # fmt: skip
    r = await post(admin, "/admin/rules", fields)
    assert r.status == 303, await r.text()
    rules = await _rules(client, school)
    assert len(rules) == DEFAULT_COUNT
    assert {
        "event_kind": "incident",
        "category": None,
        "roles": ["slt", "dsl"],
        "class_teachers": False,
    } in [  # noqa: E501
        {k: v for k, v in x.items() if k != "id"} for x in rules
    ]
    # The form a moment ago names a rule that no longer exists: refused, not guessed.
    stale = await post(admin, "/admin/rules", fields)
    assert stale.status == 409
    # Validated as the API validates: an unknown role is refused, naming the field.
    bad = await post(admin, "/admin/rules", [("event_kind", "incident"), ("roles", "janitor")])
    assert bad.status == 400 and "Unknown role" in unescape(await bad.text())
    added = await post(admin, "/admin/rules", [("event_kind", "incident"), ("category", "sen"),
                                               ("roles", "teaching_assistant")])  # fmt: skip
    assert added.status == 303 and len(await _rules(client, school)) == DEFAULT_COUNT + 1
    sen = next(x for x in await _rules(client, school) if x["category"] == "sen")
    removed = await post(admin, "/admin/rules/remove", [("id", sen["id"])])
    assert removed.status == 303 and len(await _rules(client, school)) == DEFAULT_COUNT


async def _previewed(admin, category, class_ref="C3"):
    r = await get(admin, f"/admin/rules?preview_category={category}&preview_class={class_ref}")
    assert r.status == 200
    html = unescape(await r.text())
    found = re.search(r'id="preview-result".*?<ul[^>]*>(.*?)</ul>', html, re.S)
    return html, re.findall(r"<li>([^<]+)</li>", found[1]) if found else []


async def test_the_preview_is_the_workers_rule_function(client, school):
    admin = await elevated(client, school)
    html, people = await _previewed(admin, "behaviour/negative-behaviour")
    assert "would alert" in html
    # Defaults: SLT (head included), pastoral and the class teachers of Year 3 (S06, S08).
    assert people == [
        "Hal Assistant (class teacher)",
        "Ada Head",
        "Cara Pastoral",
        "Ben Senior",
        "Finn Teacher (class teacher)",
    ]
    html, people = await _previewed(admin, "safeguarding/cp-plan")
    assert "Finn Teacher (class teacher)" not in people and "Dan Lead" in people
    assert "This category is restricted" in html
    # A rule naming teachers for a restricted category is cut down, as the worker cuts it.
    wanted = await _rules(client, school) + [
        {"event_kind": "incident", "category": "safeguarding", "roles": ["teacher"],
         "class_teachers": True}
    ]  # fmt: skip
    wanted = [{k: v for k, v in r.items() if k != "id"} for r in wanted]
    assert (await client.put(rules_path(school), json=wanted, headers=ADMIN)).status == 200
    _, people = await _previewed(admin, "safeguarding/cp-plan")
    assert not any("Teacher" in p for p in people)
