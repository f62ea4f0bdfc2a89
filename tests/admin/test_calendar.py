"""A school's calendar over the API and /admin/calendar: the contract's PUT and GET, school days
with no terms set (weekdays but the nation's bank holidays), iCalendar import, and who may."""

from __future__ import annotations

import json
from html import unescape

from tests.admin.conftest import ADMIN, elevated, get, post, signed_in

CALENDAR = {
    "nation": "england",
    "day_starts": "08:45",
    "day_ends": "15:15",
    "terms": [
        {"start": "2026-09-03", "end": "2026-12-18"},
        {"start": "2027-01-05", "end": "2027-02-12"},
    ],  # noqa: E501
    "inset_days": ["2027-01-05"],
}
ICS = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Council//Term dates//EN",
        "BEGIN:VEVENT",
        "UID:1",
        "SUMMARY:Autumn term",
        "DTSTART;VALUE=DATE:20260903",
        "DTEND;VALUE=DATE:20261024",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:2",
        "SUMMARY:Half term",
        "DTSTART;VALUE=DATE:20261026",
        "DTEND;VALUE=DATE:20261031",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:3",
        "SUMMARY:Autumn term (second half\\, after half",
        "  term)",
        "DTSTART;VALUE=DATE:20261102",
        "DTEND;VALUE=DATE:20261219",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:4",
        "SUMMARY:INSET day",
        "DTSTART;TZID=Europe/London:20261102T083000",
        "DTEND;TZID=Europe/London:20261102T153000",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)


def path(school, rest=""):
    return f"/v1/schools/{school.id}/calendar{rest}"


async def test_with_no_terms_every_weekday_but_bank_holidays(client, school):
    r = await client.get(path(school) + "?from=2026-12-21&to=2027-01-05", headers=ADMIN)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["school_days"] == [
        "2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24", "2026-12-29", "2026-12-30",
        "2026-12-31", "2027-01-04", "2027-01-05",
    ]  # fmt: skip
    assert body["day_starts"] is None and body["day_ends"] is None
    assert "2026-12-25" in body["bank_holidays"]


async def test_put_then_get_the_contract(client, school, pg):
    r = await client.put(path(school), json=CALENDAR, headers=ADMIN)
    assert r.status == 200, await r.text()
    assert await r.json() == CALENDAR
    r = await client.get(path(school) + "?from=2026-12-01&to=2027-01-31", headers=ADMIN)
    body = await r.json()
    assert body["day_starts"] == "08:45" and body["day_ends"] == "15:15"
    days = body["school_days"]
    assert days[0] == "2026-12-01" and "2026-12-18" in days and "2026-12-21" not in days
    assert "2027-01-05" not in days and days[days.index("2026-12-18") + 1] == "2027-01-06"
    row = await pg.fetchrow("SELECT detail FROM audit_log WHERE action = 'admin.calendar.set'")
    detail = json.loads(row["detail"])
    assert detail["before"]["day_starts"] is None and detail["after"] == CALENDAR


async def test_the_calendar_is_validated(client, school):
    for change, field in (
        ({"nation": "france"}, "nation"),
        ({"day_starts": "8.45"}, "day_starts"),
        ({"day_ends": "08:00"}, "day_ends"),
        ({"terms": [{"start": "2026-09-03", "end": "2026-09-01"}]}, "terms[0].end"),
        ({"inset_days": ["9999-01-01"]}, "inset_days[0]"),
    ):
        r = await client.put(path(school), json={**CALENDAR, **change}, headers=ADMIN)
        assert r.status == 422 and (await r.json())["field"] == field, change
    r = await client.get(path(school) + "?from=2026-01-01&to=2028-01-01", headers=ADMIN)
    assert r.status == 422 and (await r.json())["field"] == "to"


async def test_an_icalendar_import(client, school):
    await client.put(path(school), json=CALENDAR, headers=ADMIN)
    r = await client.post(
        path(school, "/ical"), data=ICS, headers={**ADMIN, "Content-Type": "text/calendar"}
    )
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["terms"] == [
        {"start": "2026-09-03", "end": "2026-10-23"},
        {"start": "2026-11-02", "end": "2026-12-18"},
    ]
    assert body["inset_days"] == ["2026-11-02"] and body["skipped"] == ["Half term"]
    assert body["day_starts"] == "08:45"  # hours and nation stay
    wrong = await client.post(
        path(school, "/ical"), data="hello", headers={**ADMIN, "Content-Type": "text/calendar"}
    )
    assert wrong.status == 422 and (await wrong.json())["field"] == "body"
    typed = await client.post(path(school, "/ical"), data=ICS, headers=ADMIN)
    assert typed.status == 415


async def test_who_may(client, schools):
    home, away = schools
    mine = await elevated(client, home)
    assert (await mine.request("PUT", path(home), CALENDAR)).status == 200
    assert (await mine.request("GET", path(home))).status == 200
    for browser in (
        await elevated(client, away),
        await elevated(client, home, "S06"),
        await signed_in(client, home, "S09"),
    ):
        assert (await browser.request("GET", path(home))).status == 404
        assert (await browser.request("PUT", path(home), CALENDAR)).status == 404


async def test_the_page_saves_and_imports(client, school):
    admin = await elevated(client, school)
    page = await get(admin, "/admin/calendar")
    assert page.status == 200 and "Set the times your day starts" in await page.text()
    fields = [
        ("nation", "wales"),
        ("day_starts", "08:50"),
        ("day_ends", "15:20"),
        ("terms", "2026-09-03 to 2026-12-18\n2027-01-05 to 2027-02-12"),
        ("inset_days", "2027-01-05"),
    ]
    r = await post(admin, "/admin/calendar", fields)
    assert r.status == 303, await r.text()
    saved = await (await client.get(path(school), headers=ADMIN)).json()
    assert saved["nation"] == "wales" and saved["day_starts"] == "08:50"
    assert saved["terms"][1] == {"start": "2027-01-05", "end": "2027-02-12"}
    bad = await post(admin, "/admin/calendar", [*fields[:3], ("terms", "next week")])
    assert bad.status == 400 and 'href="#terms"' in await bad.text()
    r = await post(admin, "/admin/calendar/ical", [], files=(("ical", "terms.ics", ICS.encode()),))
    assert r.status == 303, await r.text()
    shown = unescape(await (await get(admin, "/admin/calendar?done=imported")).text())
    assert "The term dates were imported." in shown and "2026-11-02 to 2026-12-18" in shown
