"""Record a concern and the incident page, through the real app as a browser uses them: forms
posted as multipart with the session cookie and its CSRF token, redirects followed by hand."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from aiohttp import FormData

from shared.auth import accounts, totp
from shared.auth.passwords import hash_password
from shared.auth.sessions import COOKIE
from tests.staff.client import Browser, staff_app
from tests.staff.school import make_school

PASSWORD = "Kettle-Drum-93!"
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
async def school(pg):
    async with pg.acquire() as conn:
        made = await make_school(conn)
        stored = hash_password(PASSWORD)
        for staff_id in made.staff.values():
            await accounts.set_password_hash(conn, made.id, staff_id, stored)
    return made


@pytest.fixture
async def client(settings, school):
    async with staff_app(settings) as c:
        yield c


async def signed_in(client, school, staff):
    browser = Browser(client)
    assert (await browser.login(school.emails[staff], PASSWORD)).status == 201
    return browser


async def elevated(client, school, staff):
    browser = await signed_in(client, school, staff)
    r = await browser.request("POST", "/v1/me/totp")
    secret = (await r.json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    r = await browser.request("POST", "/v1/me/totp/confirm", {"code": code, "device_name": "p"})
    assert r.status == 204
    code = totp.code_at(secret, totp.current_step() + 1)
    r = await browser.request("POST", "/v1/session/elevate", {"code": code})
    assert r.status == 200, await r.text()
    return browser


async def get(browser, path):
    return await browser.client.get(
        path, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )


async def post(browser, path, fields, files=(), multipart=True):
    data = FormData(default_to_multipart=True)
    pairs = [("csrf_token", browser.csrf), *fields]
    if not multipart:
        return await browser.client.post(
            path,
            data=pairs,
            headers={"Cookie": f"{COOKIE}={browser.cookie}"},
            allow_redirects=False,
        )
    for name, value in pairs:
        data.add_field(name, value)
    for name, filename, content in files:
        data.add_field(name, content, filename=filename, content_type="application/octet-stream")
    return await browser.client.post(
        path, data=data, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )


def concern(key=None, **changes):
    when = dt.datetime.now(LONDON) - dt.timedelta(hours=1)
    values = {
        "idempotency_key": key or str(uuid.uuid4()),
        "pupil": "P0001",
        "occurred_at-day": str(when.day),
        "occurred_at-month": str(when.month),
        "occurred_at-year": str(when.year),
        "occurred_at-time": f"{when:%H:%M}",
        "description": "Bruise on left forearm noticed at morning register.",
        "categories": "cause-for-concern/injury-bruise",
        "agencies": "School nurse",
        "mark-1-region": "left-forearm",
        "mark-1-view": "front",
        "mark-1-note": "Blue-green, about 3 cm",
    }
    values.update(changes)
    return [(k, v) for k, v in values.items() if v is not None]


def no_store(response):
    assert response.headers["Cache-Control"] == "no-store"


async def record(browser, fields=None, files=()):
    r = await post(browser, "/incidents/new", fields or concern(), files)
    assert r.status == 303, await r.text()
    return r.headers["Location"]


def incident_id(location):
    return uuid.UUID(re.match(r"/incidents/([0-9a-f-]+)", location)[1])


async def test_the_form_has_its_labels_and_no_restricted_categories_for_a_teacher(client, school):
    teacher = await signed_in(client, school, "S06")
    r = await get(teacher, "/incidents/new")
    assert r.status == 200
    no_store(r)
    html = await r.text()
    for label in (
        "Record a concern",
        ">Pupil</label>",
        "When did it happen",
        ">What happened</label>",
        ">Linked pupils</label>",
        ">Agencies involved</label>",
        "Body map",
        "Alert staff",
        ">Files</label>",
        ">Submit</button>",
        '<legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Behaviour</legend>',
        ">Injury/Bruise</label>",
        'id="front-left-forearm"',
        'src="/static/staff/body-map.js"',
    ):
        assert label in html, label
    assert "Zephyrine" in html and 'enctype="multipart/form-data"' in html
    assert "CP plan" not in html and ">Safeguarding</legend>" not in html
    assert ">SLT</legend>" not in html and "Recorded on behalf of" not in html
    assert "<script>" not in html

    dsl = await signed_in(client, school, "S04")
    html = await (await get(dsl, "/incidents/new")).text()
    assert ">Safeguarding</legend>" in html and ">CP plan</label>" in html
    assert "Recorded on behalf of" in html


async def test_search_and_preselect_a_pupil(client, school):
    teacher = await signed_in(client, school, "S06")
    html = await (await get(teacher, "/incidents/new?q=moon")).text()
    assert "Moonbeam, Yannick (P0002)" in html and "Quillfeather" not in html
    html = await (await get(teacher, "/incidents/new?pupil=P0003")).text()
    assert '<option value="P0003" selected>' in html


async def test_an_admin_only_account_cannot_record(client, school):
    admin = await signed_in(client, school, "S09")
    r = await get(admin, "/incidents/new")
    assert r.status == 403


async def test_empty_submit_names_each_field_and_keeps_what_was_typed(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    fields = concern(
        pupil="",
        description="",
        categories=None,
        agencies="Police <PC Smith>",
        **{"mark-1-note": "graze", "mark-1-region": ""},
    )
    r = await post(teacher, "/incidents/new", fields)
    assert r.status == 400
    no_store(r)
    html = await r.text()
    assert "govuk-error-summary" in html and "<title>Error: Record a concern" in html
    for href, message in (
        ("#pupil", "Select the pupil"),
        ("#description", "Enter what happened"),
        ("#categories", "Select at least one category"),
        ("#mark-1-region", "Select where on the body mark 1 is"),
    ):
        assert f'<a href="{href}">{message}</a>' in html
        assert f'<span class="govuk-visually-hidden">Error:</span> {message}' in html
    assert "Police &lt;PC Smith&gt;" in html and 'value="graze"' in html
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 0


async def test_a_time_in_the_future_is_refused(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    later = dt.datetime.now(LONDON) + dt.timedelta(days=2)
    fields = concern(
        **{
            "occurred_at-day": str(later.day),
            "occurred_at-month": str(later.month),
            "occurred_at-year": str(later.year),
        }
    )
    html = await (await post(teacher, "/incidents/new", fields)).text()
    assert '<a href="#occurred_at">When did it happen must be in the past</a>' in html
    assert "Bruise on left forearm" in html
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 0


async def test_a_teacher_cannot_post_a_restricted_category(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    r = await post(teacher, "/incidents/new", concern(categories="safeguarding/cp-plan"))
    assert r.status == 400
    assert '<a href="#categories">Only DSL' in await r.text()
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 0


async def test_a_double_submit_records_one_incident_and_shows_its_reference(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    fields = concern(str(uuid.uuid4()), linked_pupils="P0003", alert_staff="S07")
    files = [("files", "note.txt", b"Written by the supply teacher.")]
    first = await record(teacher, fields, files)
    second = await record(teacher, fields, files)
    assert first == second and first.endswith("?recorded=1")
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 1
    assert await pg.fetchval("SELECT count(*) FROM incident_files") == 1
    reference = await pg.fetchval("SELECT reference FROM incidents")

    r = await get(teacher, first)
    assert r.status == 200
    no_store(r)
    html = unescape(await r.text())
    assert "Concern recorded" in html and f"#{reference}" in html
    assert "Zephyrine Quillfeather" in html and "Finn Teacher" in html
    assert "Cause for concern: Injury/Bruise" in html and "Xanthe Larkspur (P0003)" in html
    assert "School nurse" in html and "Gail Teacher" in html
    assert "Front, left forearm" in html and "Blue-green, about 3 cm" in html
    assert 'id="front-left-forearm"' in html and "beacon-body-map__region--marked" in html
    file_id = await pg.fetchval("SELECT id FROM incident_files")
    link = f"/v1/incidents/{incident_id(first)}/files/{file_id}"
    assert link in html
    download = await get(teacher, link)
    assert download.status == 200 and await download.read() == b"Written by the supply teacher."


async def test_a_dsl_records_on_behalf_of_someone(client, school, pg):
    dsl = await signed_in(client, school, "S04")
    fields = concern(on_behalf_of="Ms Supply, supply teacher", categories="safeguarding/cp-plan")
    await record(dsl, fields)
    row = await pg.fetchrow("SELECT description, restricted FROM incidents")
    assert row["restricted"]
    assert row["description"].startswith("Recorded on behalf of: Ms Supply, supply teacher\n\n")


async def test_the_page_is_for_who_may_see_it_and_every_view_is_audited(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    location = await record(teacher)
    incident = incident_id(location)
    for _ in range(2):
        assert (await get(teacher, f"/incidents/{incident}")).status == 200
    other_class = await signed_in(client, school, "S07")
    r = await get(other_class, f"/incidents/{incident}")
    assert r.status == 404
    no_store(r)
    assert (await get(teacher, f"/incidents/{uuid.uuid4()}")).status == 404
    assert (await get(teacher, "/incidents/not-an-id")).status == 404
    views = await pg.fetch(
        """SELECT actor_staff_id FROM audit_log
           WHERE action = 'incident.view' AND subject_id = $1""",
        str(incident),
    )
    assert [v["actor_staff_id"] for v in views] == [school.staff["S06"]] * 2


async def test_an_action_is_appended_and_marks_the_authors_alert_actioned(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    incident = incident_id(await record(teacher))
    event = await pg.fetchval("SELECT id FROM alert_events WHERE incident_id = $1", incident)
    alert = await pg.fetchval(
        """INSERT INTO alerts (school_id, event_id, incident_id, recipient_id)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        school.id,
        event,
        incident,
        school.staff["S06"],
    )
    html = await (await get(teacher, f"/incidents/{incident}")).text()
    assert "Who was alerted" in html and "Finn Teacher" in html and ">Queued</strong>" in html

    empty = await post(teacher, f"/incidents/{incident}/actions", [("action", "")])
    assert empty.status == 400
    assert '<a href="#action">Enter the action taken</a>' in await empty.text()

    fields = [("idempotency_key", str(uuid.uuid4())), ("action", "Spoke to parent at pick-up.")]
    r = await post(teacher, f"/incidents/{incident}/actions", fields)
    assert r.status == 303 and r.headers["Location"] == f"/incidents/{incident}?added=1#actions"
    again = await post(teacher, f"/incidents/{incident}/actions", fields)
    assert again.status == 303
    assert await pg.fetchval("SELECT count(*) FROM actions") == 1
    assert await pg.fetchval("SELECT actioned_at FROM alerts WHERE id = $1", alert) is not None
    html = await (await get(teacher, f"/incidents/{incident}?added=1")).text()
    assert "Action added" in html and "Spoke to parent at pick-up." in html
    assert ">Actioned</strong>" in html


async def test_alert_states_are_not_shown_to_a_colleague(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    incident = incident_id(await record(teacher))
    assistant = await signed_in(client, school, "S08")  # teaches the class too
    html = await (await get(assistant, f"/incidents/{incident}")).text()
    assert "Bruise on left forearm" in html and "Who was alerted" not in html
    assert "Move into a restricted category" not in html


async def test_a_move_into_safeguarding_is_an_audited_action_and_hides_it_from_the_class(
    client, school, pg
):
    teacher = await signed_in(client, school, "S06")
    incident = incident_id(await record(teacher))
    path = f"/incidents/{incident}/restrict"
    assert (
        await post(teacher, path, [("category", "safeguarding/cp-plan")], multipart=False)
    ).status == 303
    assert await pg.fetchval("SELECT count(*) FROM incident_category_moves") == 0  # to elevate

    dsl = await elevated(client, school, "S04")
    html = await (await get(dsl, f"/incidents/{incident}")).text()
    assert "Move into a restricted category" in html and "Who was alerted" in html
    bad = await post(dsl, path, [("category", "behaviour/positive-behaviour")], multipart=False)
    assert bad.status == 400
    fields = [("idempotency_key", str(uuid.uuid4())), ("category", "safeguarding/cp-plan")]
    r = await post(dsl, path, fields, multipart=False)
    assert r.status == 303 and r.headers["Location"] == f"/incidents/{incident}?moved=1"
    assert (await post(dsl, path, fields, multipart=False)).status == 303  # a double click
    assert await pg.fetchval("SELECT count(*) FROM incident_category_moves") == 1
    html = unescape(await (await get(dsl, r.headers["Location"])).text())
    assert "Moved into Safeguarding: CP plan" in html and "Restricted" in html
    audited = await pg.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'incident.restricted' AND subject_id = $1",
        str(incident),
    )
    assert audited == 1
    assert (await get(teacher, f"/incidents/{incident}")).status == 404
    with pytest.raises(Exception, match="append-only"):
        await pg.execute("DELETE FROM incident_category_moves")


async def test_forms_need_the_csrf_token(client, school, pg):
    teacher = await signed_in(client, school, "S06")
    teacher.csrf = "wrong"
    r = await post(teacher, "/incidents/new", concern())
    assert r.status == 403
    assert await pg.fetchval("SELECT count(*) FROM incidents") == 0


async def test_a_concern_about_a_pupil_the_author_does_not_teach_is_confirmed_not_shown(
    client, school, pg
):
    """Anyone may record about any pupil, but need-to-know still decides who reads it: the
    author is told it was recorded and its reference, never shown a 404 (and records it
    twice) nor the incident. The confirmation is theirs alone."""
    teacher = await signed_in(client, school, "S06")  # teaches Year 3; P0002 is in Year 4
    location = await record(teacher, concern(pupil="P0002"))
    incident = await pg.fetchrow("SELECT id, reference FROM incidents")
    assert location == f"/incidents/new?recorded={incident['id']}"
    r = await get(teacher, location)
    assert r.status == 200
    no_store(r)
    html = unescape(await r.text())
    assert f"Concern recorded. Its reference is #{incident['reference']}" in html
    assert "Yannick" not in html.split("Record a concern</h1>")[0]  # nothing of the record
    assert (await get(teacher, f"/incidents/{incident['id']}")).status == 404
    other = await signed_in(client, school, "S07")
    html = await (await get(other, location)).text()
    assert "Concern recorded" not in html
