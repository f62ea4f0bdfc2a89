"""The pupil pages (search, chronology) and the safeguarding overview, through the real app as
a browser uses them: the session cookie from signing in, redirects looked at, not followed."""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape
from urllib.parse import unquote

import pytest

from services.worker.escalation import reraise_failed_once
from shared import queue
from shared.auth import totp
from shared.auth.sessions import COOKIE
from tests.staff.client import Browser, staff_app
from tests.support.world import (
    RESTRICTED,
    record_action,
    record_incident,
    resolve_alerts,
    seed_school,
    set_passwords,
    settle_alert,
)

PASSWORD = "Kettle-Drum-93!"
BEHAVIOUR = "behaviour/negative-behaviour"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
async def school(pg):
    """P0001 (class C3: S06 and S08 teach it) has an ordinary incident with an action and a
    restricted one with an action; P0002 (C4) has one of its own."""
    async with pg.acquire() as conn:
        made = await seed_school(conn)
        await set_passwords(conn, made, PASSWORD)
        ordinary = await record_incident(
            conn, made, "S06", "P0001", [BEHAVIOUR], description="ordinary-marker"
        )
        secret = await record_incident(
            conn, made, "S04", "P0001", [RESTRICTED], description="restricted-marker"
        )
        await record_action(conn, made, ordinary.id, "S02", "action-marker")
        await record_action(conn, made, secret.id, "S04", "secret-action")
        other = await record_incident(conn, made, "S07", "P0002", description="other-marker")
    made.recorded = {"ordinary": ordinary, "secret": secret, "other": other}
    return made


@pytest.fixture
async def client(settings, school):
    async with staff_app(settings) as c:
        yield c


@pytest.fixture
async def redis(redis_url):
    pool = await queue.connect(redis_url)
    yield pool
    await pool.aclose()


async def signed_in(client, school, staff):
    browser = Browser(client)
    assert (await browser.login(school.emails[staff], PASSWORD)).status == 201
    return browser


async def elevate(browser):
    r = await browser.request("POST", "/v1/me/totp")
    secret = (await r.json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    r = await browser.request("POST", "/v1/me/totp/confirm", {"code": code, "device_name": "p"})
    assert r.status == 204
    code = totp.code_at(secret, totp.current_step() + 1)
    r = await browser.request("POST", "/v1/session/elevate", {"code": code})
    assert r.status == 200, await r.text()
    return browser


async def get(browser, path, status=200):
    response = await browser.client.get(
        path, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )
    assert response.status == status, (path, await response.text())
    if status != 303:  # a redirect carries no record
        assert response.headers["Cache-Control"] == "no-store", path
    return response


async def page(browser, path, status=200):
    return unescape(await (await get(browser, path, status)).text())


def rows(html):
    """The text of each row of the page's main table body, tags stripped."""
    body = html.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in body.split("</tr>")[:-1]]


# -- Chronology ------------------------------------------------------------------------------


async def test_a_teachers_chronology_of_their_pupil_has_no_trace_of_restricted_records(
    client, school
):
    teacher = await signed_in(client, school, "S06")
    html = await page(teacher, "/pupils/P0001")
    assert re.search(r"<h1[^>]*>.*Chronology.*Zephyrine Quillfeather</h1>", html, re.S)
    assert "ordinary-marker" in html and "action-marker" in html
    secret = school.recorded["secret"]
    for trace in ("restricted-marker", "secret-action", str(secret.id), f"#{secret.reference}"):
        assert trace not in html
    assert "Restricted" not in html
    assert f'href="/incidents/{school.recorded["ordinary"].id}"' in html
    assert f"#{school.recorded['ordinary'].reference}" in html
    assert 'href="/incidents/new?pupil=P0001"' in html
    assert "2 entries" in html
    [incident, action] = rows(html)
    assert "Behaviour: Negative behaviour" in incident and "Finn Teacher" in incident
    assert "Action on" in action and "Ben Senior" in action


async def test_another_class_pupil_is_not_found_for_a_teacher(client, school):
    teacher = await signed_in(client, school, "S06")
    for path in ("/pupils/P0002", "/pupils/P9999", "/pupils/" + "x" * 300):
        html = await page(teacher, path, 404)
        assert "other-marker" not in html and "Yannick" not in html


async def test_a_dsl_is_sent_to_elevate_then_sees_everything(client, school):
    dsl = await signed_in(client, school, "S04")  # teaches no class
    for path in ("/pupils/P0001", "/pupils/P9999", "/pupils?q=moon"):
        r = await get(dsl, path, 303)
        assert unquote(r.headers["Location"]).startswith("/elevate?next=/pupils")
    await elevate(dsl)
    html = await page(dsl, "/pupils/P0001")
    assert all(m in html for m in ("restricted-marker", "secret-action", "ordinary-marker"))
    assert "4 entries" in html and "Restricted" in html


async def test_whole_school_search_once_elevated_and_a_teachers_own_list(client, school):
    head = await elevate(await signed_in(client, school, "S01"))
    for q in ("moon", "MOONBEAM", "yann", "P0002"):
        html = await page(head, f"/pupils?q={q}")
        assert 'href="/pupils/P0002"' in html, q
        assert "Quillfeather" not in html
    assert "No pupils match" in await page(head, "/pupils?q=%25")  # a wildcard is just text
    teacher = await signed_in(client, school, "S06")
    html = await page(teacher, "/pupils")
    assert "My pupils" in html and "Moonbeam" not in html
    assert 'href="/pupils/P0001"' in html and 'href="/pupils/P0003"' in html
    html = await page(teacher, "/pupils?q=moon")  # no search across the school
    assert "Moonbeam" not in html and "No pupils match" in html


async def test_entries_follow_when_things_happened_backdated_ones_in_place(pg, client, school):
    async with pg.acquire() as conn:
        await record_incident(
            conn,
            school,
            "S06",
            "P0003",
            [BEHAVIOUR],
            description="recent-marker",
            occurred_at=NOW - dt.timedelta(minutes=10),
        )
        paper = await record_incident(  # typed up from a paper form, recorded last
            conn,
            school,
            "S06",
            "P0003",
            [BEHAVIOUR],
            description="paper-marker",
            occurred_at=NOW - dt.timedelta(days=3),
        )
        await record_action(conn, school, paper.id, "S06", "followup-marker")
    teacher = await signed_in(client, school, "S06")
    found = rows(await page(teacher, "/pupils/P0003"))
    order = [next(m for m in ("paper", "recent", "followup") if m in r) for r in found]
    assert order == ["paper", "recent", "followup"]
    assert "Recorded" in found[0] and "Recorded" not in found[1]


async def test_filters_by_category_and_dates(pg, client, school):
    async with pg.acquire() as conn:
        for days, slug, text in ((40, BEHAVIOUR, "old"), (10, "sen/intervention", "sen")):
            await record_incident(
                conn,
                school,
                "S06",
                "P0001",
                [slug],
                description=f"{text}-marker",
                occurred_at=NOW - dt.timedelta(days=days),
            )
    teacher = await signed_in(client, school, "S06")
    html = await page(teacher, "/pupils/P0001?category=sen")  # a group: its own categories
    assert "sen-marker" in html and "old-marker" not in html and "ordinary-marker" not in html
    html = await page(teacher, f"/pupils/P0001?category={BEHAVIOUR}")
    assert "old-marker" in html and "ordinary-marker" in html and "sen-marker" not in html
    assert "restricted-marker" not in html
    start, end = (NOW - dt.timedelta(days=20)).date(), (NOW - dt.timedelta(days=5)).date()
    dates = (
        f"from-day={start.day}&from-month={start.month}&from-year={start.year}"
        f"&to-day={end.day}&to-month={end.month}&to-year={end.year}"
    )
    html = await page(teacher, f"/pupils/P0001?{dates}")
    assert [r for r in rows(html) if "marker" in r] == [r for r in rows(html) if "sen-" in r]
    assert "1 entry matching the filters" in html
    html = await page(teacher, "/pupils/P0001?from-day=31&from-month=2&from-year=2026", 400)
    assert "There is a problem" in html and "Date from must be a real date" in html
    html = await page(teacher, f"/pupils/P0001?category={RESTRICTED}", 400)
    assert "Select a category from the list" in html and "restricted-marker" not in html


async def test_fifty_entries_a_page(pg, client, school):
    async with pg.acquire() as conn:
        for n in range(55):
            await record_incident(
                conn,
                school,
                "S06",
                "P0003",
                [BEHAVIOUR],
                description=f"entry-{n:02d}.",
                occurred_at=NOW - dt.timedelta(hours=100 - n),
            )
    teacher = await signed_in(client, school, "S06")
    first = await page(teacher, f"/pupils/P0003?category={BEHAVIOUR}")
    assert len(rows(first)) == 50 and "entry-00." in first and "entry-49." in first
    assert "Showing 1 to 50 of 55 entries" in first
    assert f'href="/pupils/P0003?category={BEHAVIOUR.replace("/", "%2F")}&amp;page=2"' in (
        await (await get(teacher, f"/pupils/P0003?category={BEHAVIOUR}")).text()
    )
    second = await page(teacher, f"/pupils/P0003?category={BEHAVIOUR}&page=2")
    assert len(rows(second)) == 5 and "entry-50." in second and "entry-49." not in second
    assert "Page 2 of 2" in second
    past = await page(teacher, f"/pupils/P0003?category={BEHAVIOUR}&page=9")  # the last page
    assert len(rows(past)) == 5 and "Page 2 of 2" in past and "Showing 51 to 55 of 55" in past


async def test_each_view_is_audited_with_what_it_showed(pg, client, school):
    teacher = await signed_in(client, school, "S06")
    await page(teacher, "/pupils/P0001?page=1")
    row = await pg.fetchrow("SELECT * FROM audit_log WHERE action = 'chronology.view'")
    assert row["actor_staff_id"] == school.staff["S06"]
    assert row["subject_type"] == "pupil" and row["subject_id"] == str(school.pupils["P0001"])
    detail = json.loads(row["detail"])
    assert detail["incidents"] == [str(school.recorded["ordinary"].id)] and detail["page"] == 1


# -- The safeguarding overview ---------------------------------------------------------------


async def test_dsl_page_is_for_elevated_dsls_slt_and_head(client, school):
    for staff in ("S06", "S08", "S09", "S03"):  # teacher, TA, admin, pastoral
        html = await page(await signed_in(client, school, staff), "/dsl", 404)
        assert "restricted-marker" not in html
    for staff in ("S04", "S05", "S02", "S01"):
        r = await get(await signed_in(client, school, staff), "/dsl", 303)
        assert unquote(r.headers["Location"]) == "/elevate?next=/dsl"


async def test_dsl_page_lists_unread_restricted_failed_alerts_and_no_action(
    pg, redis, client, school
):
    async with pg.acquire() as conn:
        secret_alerts = await resolve_alerts(conn, school.recorded["secret"].event)
        other_alerts = await resolve_alerts(conn, school.recorded["other"].event)
    dsl = await elevate(await signed_in(client, school, "S04"))
    html = await page(dsl, "/dsl")
    unread = html.split('id="unread"', 1)[1].split('id="no-action"', 1)[0]
    assert f"#{school.recorded['secret'].reference}" in unread and "Not escalated yet" in unread
    assert f"#{school.recorded['ordinary'].reference}" not in unread
    no_action = html.split('id="no-action"', 1)[1].split('id="failed"', 1)[0]
    assert f"#{school.recorded['other'].reference}" in no_action
    assert f"#{school.recorded['ordinary'].reference}" not in no_action  # it has an action
    assert "No alert emails have failed" in html

    await settle_alert(pg, secret_alerts["S01"], "failed", "550 mailbox unavailable")
    await settle_alert(pg, other_alerts["S01"], "failed", "gave up after 8 attempts")
    assert len(await reraise_failed_once(pg, redis)) == 1  # the worker's pass
    html = await page(dsl, "/dsl")
    failed = html.split('id="failed"', 1)[1]
    assert "550 mailbox unavailable" in failed and "gave up after 8 attempts" in failed
    assert failed.count("Re-raised to the deputy DSLs") == 1  # the ordinary one is not
    unread = html.split('id="unread"', 1)[1].split('id="no-action"', 1)[0]
    assert "Escalated to the deputy DSLs" in unread
    await pg.execute(
        "UPDATE alerts SET read_at = now(), self_read_at = now() WHERE id = $1",
        secret_alerts["S05"],
    )
    html = await page(dsl, "/dsl")
    assert "Every restricted alert has been read" in html
    assert (
        await pg.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'safeguarding.overview.view'"
        )
        == 3
    )
