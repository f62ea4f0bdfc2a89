"""The whole loop in a real browser, against ingest, the worker and the notifier as processes
and a real SMTP sink: a teacher records a concern (with a body-map mark and a file), the DSL
gets a content-free email, follows its link signed out, signs in, lands on the incident (the
alert is read), adds an action (the alert is actioned), and the teacher sees that action."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes
from email.policy import default as email_policy
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.auth import totp
from tests.conftest import SECRET_KEY
from tests.support.smtp_sink import SmtpSink
from tests.support.until import until
from tests.web import (
    School,
    Stack,
    add_api_key,
    api,
    elevate,
    launch,
    new_page,
    problem,
    seed_school,
    sign_in,
    skip_without_browser,
)

skip_without_browser()

LONDON = ZoneInfo("Europe/London")
WHAT_HAPPENED = "Zephyrine showed me a bruise on her left forearm at lunch and went quiet."
ACTION = "Spoke to Zephyrine with the class teacher; phoned home. Monitoring."
NOTE = "Purple bruise, about 3 cm"


@pytest.fixture
async def stack(env):
    # The email's link must lead to this ingest, as the browser reaches it.
    env = {**env, "BEACON_BASE_URL": f"http://127.0.0.1:{env['INGEST_PORT']}"}
    s = Stack(env, ("ingest", "worker", "notifier")).start()
    yield s
    s.stop()


async def give_authenticator(stack: Stack, school: School, staff: str) -> str:
    """The DSL set up an authenticator earlier; returns its secret (codes come from pyotp)."""
    box = totp.SecretBox(totp.derive_key(SECRET_KEY))
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        staff_id = school.staff[staff]
        started = await totp.start_enrolment(conn, box, school.id, staff_id)
        code = totp.code_at(started.secret, totp.current_step() - 1)
        assert await totp.confirm_enrolment(conn, box, school.id, staff_id, code, "Phone")
    finally:
        await conn.close()
    return started.secret


def alert_email(sink: SmtpSink, to: str) -> bytes | None:
    for m in sink.messages:
        if to in m.recipients and "New incident" in str(m.message["Subject"]):
            return m.data
    return None


async def dsl_alert(stack: Stack, school: School, staff_app: str, alert_id: str) -> dict:
    """The DSL's alert as the notifier's status API shows it to a staff app's key (a key reads
    back only incidents it posted; this one was recorded on the page)."""
    alerts = await api(stack, school, "GET", "/v1/staff/S04/alerts", notifier=True, key=staff_app)
    mine = [a for a in alerts if a["id"] == alert_id]
    assert len(mine) == 1, alerts
    return mine[0]


async def test_teacher_records_dsl_is_alerted_reads_and_acts_teacher_sees_it(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    school = await seed_school(stack)
    staff_app = await add_api_key(stack, school.id, "Staff app", ("alerts:staff",))
    secret = await give_authenticator(stack, school, "S04")
    dsl_email = school.emails["S04"]
    base = stack.base

    async with launch() as browser:
        # The class teacher records a concern on the page, without the API.
        teacher = await new_page(browser)
        await sign_in(teacher, base, school.emails["S06"])
        await teacher.get_by_role("link", name="Record a concern").first.click()
        await teacher.wait_for_url(f"{base}/incidents/new")
        await teacher.get_by_label("Pupil", exact=True).select_option("P0001")
        when = dt.datetime.now(LONDON) - dt.timedelta(minutes=20)
        when_group = teacher.get_by_role("group", name="When did it happen")
        await when_group.get_by_label("Day").fill(str(when.day))
        await when_group.get_by_label("Month").fill(str(when.month))
        await when_group.get_by_label("Year").fill(str(when.year))
        await when_group.get_by_label("Time").fill(f"{when:%H:%M}")
        await teacher.get_by_label("What happened").fill(WHAT_HAPPENED)
        concern = teacher.get_by_role("group", name="Cause for concern")
        await concern.get_by_label("Injury/Bruise").check()
        # The body map's list (what the figures fill in, and what works without them).
        mark = teacher.get_by_role("group", name="Mark 1")
        await mark.get_by_label("Where").select_option(label="Left forearm")
        await mark.get_by_label("Front", exact=True).check()
        await mark.get_by_label("Note").fill(NOTE)
        alert_staff = teacher.get_by_role("group", name="Alert staff")
        await alert_staff.get_by_label(school.names["S04"]).check()
        await teacher.get_by_label("Files").set_input_files(
            files=[
                {
                    "name": "lunchtime-note.txt",
                    "mimeType": "text/plain",
                    "buffer": b"Noticed at 12:40 in the dinner hall. Told the DSL.\n",
                }
            ]
        )
        async with teacher.expect_navigation():
            await teacher.get_by_role("button", name="Submit").click()
        recorded = re.fullmatch(rf"{base}/incidents/([0-9a-f-]{{36}})\?recorded=1", teacher.url)
        assert recorded, f"not on the new incident: {teacher.url}\n{await problem(teacher)}"
        incident = recorded.group(1)
        await teacher.get_by_text("Concern recorded").wait_for()

        # The DSL's email: content-free, with the alert's link.
        raw = await until(
            lambda: alert_email(smtp_sink, dsl_email), 30, lambda: f"no email\n{stack.logs()}"
        )
        message = message_from_bytes(raw, policy=email_policy)
        text = message.get_body(preferencelist=("plain",)).get_content()
        words = raw.decode(errors="replace") + text
        for part in message.walk():
            if part.get_content_maintype() == "text":
                words += part.get_content()
        # No pupil, no write-up, no mark, no file: only the category names and initials.
        for secret_word in (
            "Zephyrine",
            "Quillfeather",
            "went quiet",
            "forearm",
            "Purple",
            "lunchtime",
        ):
            assert secret_word.lower() not in words.lower(), f"{secret_word!r} is in the email"
        link = re.search(rf"{re.escape(base)}/alerts/([0-9a-f-]{{36}})", text)
        assert link, text
        alert_id = link.group(1)
        before = await dsl_alert(stack, school, staff_app, alert_id)
        assert before["read_at"] is None and before["actioned_at"] is None, before

        # The DSL opens the link signed out, is sent to sign in, and comes back to it.
        dsl = await new_page(browser)
        await dsl.goto(link.group(0))
        assert dsl.url.startswith(f"{base}/login?next="), dsl.url
        await sign_in(dsl, base, dsl_email)
        if "/elevate" in dsl.url:
            await elevate(dsl, secret)
        assert dsl.url == f"{base}/incidents/{incident}", dsl.url
        await dsl.get_by_role("heading", name=re.compile(r"Incident #\d+")).wait_for()
        await dsl.get_by_text(NOTE).wait_for()  # the body-map mark
        await dsl.get_by_role("link", name="lunchtime-note.txt").wait_for()  # the file
        read = await until(
            lambda: _read(stack, school, staff_app, alert_id), 10, "the alert was not marked read"
        )
        assert read["actioned_at"] is None

        # The DSL adds an action.
        await dsl.get_by_label("Action taken").fill(ACTION)
        async with dsl.expect_navigation():
            await dsl.get_by_role("button", name="Add action").click()
        assert dsl.url.startswith(f"{base}/incidents/{incident}?added=1"), dsl.url
        await dsl.get_by_text(ACTION).wait_for()
        await until(
            lambda: _actioned(stack, school, staff_app, alert_id),
            10,
            "the alert was not marked actioned",
        )

        # The teacher sees the DSL's action on their incident.
        await teacher.goto(f"{base}/incidents/{incident}")
        await teacher.get_by_text(ACTION).wait_for()
        assert school.names["S04"] in await teacher.locator("#actions ~ ol").inner_text()
    stack.alive()


async def _read(stack: Stack, school: School, key: str, alert_id: str) -> dict | None:
    alert = await dsl_alert(stack, school, key, alert_id)
    return alert if alert["read_at"] else None


async def _actioned(stack: Stack, school: School, key: str, alert_id: str) -> dict | None:
    alert = await dsl_alert(stack, school, key, alert_id)
    return alert if alert["actioned_at"] else None
