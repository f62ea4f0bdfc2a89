"""Screenshots of the staff pages: `python3 docs/screenshots.py [outdir]` (default
docs/screenshots).

Starts Beacon as the tests do (ingest, worker and notifier as processes on a throwaway
PostgreSQL database at BEACON_TEST_PG, a private redis-server and an SMTP sink), seeds a
realistic primary school through the admin API and the school's API key, then photographs
each page in Debian's chromium at 1280, 375 and 320 px wide (each PNG clipped to 1600 px of
height to stay small). Names and records are invented.

README.md shows my-alerts-1280.png and record-a-concern-375.png; the committed set is those
two, my-alerts-375.png, record-a-concern-1280.png and incident-1280.png.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from shared.auth import totp  # noqa: E402
from tests.conftest import ADMIN_TOKEN, SECRET_KEY  # noqa: E402
from tests.support.databases import create_database, drop_database  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.smtp_sink import SmtpSink  # noqa: E402
from tests.support.until import until  # noqa: E402
from tests.web import (  # noqa: E402
    School,
    Stack,
    add_api_key,
    api,
    elevate,
    launch,
    new_page,
    seed_school,
    sign_in,
)

WIDTHS = (1280, 375, 320)
MAX_HEIGHT = 1600


def _staff(sid: str, first: str, last: str, *roles: str) -> dict[str, Any]:
    return {
        "id": sid,
        "first_name": first,
        "last_name": last,
        "initials": first[0] + last[0],
        "roles": list(roles),
        "email": f"{first.lower()}.{last.lower()}@oakfield.example",
    }


def _pupil(pid: str, first: str, last: str, born: str, cls: str) -> dict[str, Any]:
    return {
        "id": pid,
        "first_name": first,
        "last_name": last,
        "date_of_birth": born,
        "classes": [cls],
    }


ROSTER: dict[str, Any] = {
    "staff": [
        _staff("T01", "Sarah", "Mitchell", "head", "slt"),
        _staff("T02", "James", "Osei", "dsl", "slt"),
        _staff("T03", "Priya", "Sharma", "deputy_dsl", "teacher"),
        _staff("T04", "Tom", "Baker", "pastoral"),
        _staff("T05", "Emma", "Clarke", "teacher"),
        _staff("T06", "Daniel", "Wright", "teacher"),
        _staff("T07", "Hannah", "Lewis", "teacher"),
        _staff("T08", "Grace", "Hall", "teaching_assistant"),
        _staff("T09", "Karen", "Price", "admin"),
    ],
    "classes": [
        {"id": "Y3", "name": "Year 3 Willow", "teachers": ["T05", "T08"]},
        {"id": "Y4", "name": "Year 4 Rowan", "teachers": ["T06"]},
        {"id": "Y5", "name": "Year 5 Oak", "teachers": ["T07", "T03"]},
    ],
    "pupils": [
        _pupil("P1001", "Amelia", "Hughes", "2017-03-14", "Y3"),
        _pupil("P1002", "Oliver", "Patel", "2017-06-02", "Y3"),
        _pupil("P1003", "Isla", "Okafor", "2016-11-21", "Y3"),
        _pupil("P1004", "Noah", "Williams", "2016-01-09", "Y4"),
        _pupil("P1005", "Freya", "Thompson", "2016-05-30", "Y4"),
        _pupil("P1006", "Leo", "Nowak", "2015-10-17", "Y4"),
        _pupil("P1007", "Ava", "Robinson", "2015-02-26", "Y5"),
        _pupil("P1008", "Harry", "Chen", "2015-07-08", "Y5"),
        _pupil("P1009", "Mia", "Davies", "2014-12-12", "Y5"),
        _pupil("P1010", "Sofia", "Kowalska", "2015-04-03", "Y5"),
    ],
}

# (author, pupil, hours ago, categories, what happened, extras)
INCIDENTS: list[tuple[str, str, float, list[str], str, dict[str, Any]]] = [
    (
        "T05",
        "P1001",
        2,
        ["cause-for-concern/injury-bruise"],
        "Amelia had a bruise on her left forearm when she took her jumper off for PE. "
        "She said she 'bumped it at home' and did not want to talk about it.\n"
        "She was quieter than usual all morning.",
        {
            "body_map": [
                {"view": "front", "region": "left-forearm", "note": "Purple bruise, about 3 cm"},
                {"view": "back", "region": "upper-back", "note": "Faint yellow mark"},
            ],
            "alert_staff": ["T04"],
        },
    ),
    (
        "T06",
        "P1004",
        26,
        ["behaviour/negative-behaviour"],
        "Noah pushed another pupil at lunch and refused to come inside.",
        {"linked_pupils": ["P1006"]},
    ),
    (
        "T04",
        "P1007",
        50,
        ["attendance/punctuality"],
        "Ava arrived at 9:40 for the fourth time this fortnight. Mum says the bus is late.",
        {},
    ),
    (
        "T07",
        "P1009",
        74,
        ["cause-for-concern/mental-health"],
        "Mia told me she feels sad every day and doesn't want to go home at weekends.",
        {"alert_staff": ["T03"]},
    ),
    (
        "T02",
        "P1003",
        120,
        ["safeguarding/social-care-communication"],
        "Call from children's social care: Isla's family has an allocated social worker. "
        "Strategy meeting next week.",
        {"agencies": ["Children's social care"]},
    ),
    (
        "T04",
        "P1005",
        150,
        ["parent-contact/phone-call"],
        "Phoned Freya's dad about the missed reading book sessions; agreed a plan.",
        {},
    ),
]
ACTIONS = [
    (1, "T02", "Spoke to Noah and the other pupil together; both apologised. Parents told."),
    (3, "T02", "Met Mia with Mrs Sharma. Referred to the school counsellor; check-in Fridays."),
]


async def seed(stack: Stack) -> tuple[School, list[str]]:
    school = await seed_school(stack, "Oakfield Primary School", ROSTER)
    # The MIS posts safeguarding concerns too: its key holds the restricted scope.
    scopes = ("incidents:write", "incidents:read", "alerts:read", "restricted")
    school.key = await add_api_key(stack, school.id, "MIS (safeguarding)", scopes)
    now = dt.datetime.now(dt.UTC)
    ids = []
    for author, pupil, hours, categories, text, extra in INCIDENTS:
        body = {
            "author": author,
            "pupil": pupil,
            "occurred_at": (now - dt.timedelta(hours=hours)).isoformat(),
            "description": text,
            "categories": categories,
            **extra,
        }
        ids.append((await api(stack, school, "POST", "/v1/incidents", body))["id"])

    async def delivered() -> bool:
        for incident in ids:
            path = f"/v1/incidents/{incident}/alerts"
            alerts = await api(stack, school, "GET", path, notifier=True)
            if not alerts or any(a["state"] not in ("sent", "failed") for a in alerts):
                return False
        return True

    # Actions after the alerts exist: an action marks the author's alerts on the incident
    # actioned, and only alerts that are there by then.
    await until(delivered, 60, lambda: f"alerts not delivered\n{stack.logs()}")
    for index, author, text in ACTIONS:
        path = f"/v1/incidents/{ids[index]}/actions"
        await api(stack, school, "POST", path, {"author": author, "description": text})
    await until(delivered, 60, lambda: f"alerts not delivered\n{stack.logs()}")
    return school, ids


async def give_authenticator(stack: Stack, school: School, staff: str) -> str:
    box = totp.SecretBox(totp.derive_key(SECRET_KEY))
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        started = await totp.start_enrolment(conn, box, school.id, school.staff[staff])
        code = totp.code_at(started.secret, totp.current_step() - 1)
        await totp.confirm_enrolment(conn, box, school.id, school.staff[staff], code, "Phone")
    finally:
        await conn.close()
    return started.secret


async def shoot(page: Any, out: Path, name: str, widths: tuple[int, ...] = WIDTHS) -> None:
    for width in widths:
        await page.set_viewport_size({"width": width, "height": 800})
        height = await page.evaluate("document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": width, "height": min(height, MAX_HEIGHT)}
        await page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True, clip=clip)
    await page.set_viewport_size({"width": 1280, "height": 800})
    print(f"  {name}")


async def photograph(stack: Stack, out: Path) -> None:
    school, ids = await seed(stack)
    secret = await give_authenticator(stack, school, "T02")
    base = stack.base
    async with launch() as browser:
        page = await new_page(browser)
        await page.goto(f"{base}/login")
        await shoot(page, out, "sign-in")
        await page.get_by_role("button", name="Sign in").click()
        await page.locator(".govuk-error-summary").wait_for()
        await shoot(page, out, "sign-in-errors")

        # The class teacher records a concern.
        teacher = await new_page(browser)
        await sign_in(teacher, base, school.emails["T05"])
        await shoot(teacher, out, "my-alerts-teacher")
        await teacher.goto(f"{base}/incidents/new")
        await shoot(teacher, out, "record-a-concern")
        await teacher.get_by_role("button", name="Submit").click()
        await teacher.locator(".govuk-error-summary").wait_for()
        await shoot(teacher, out, "record-a-concern-errors")

        # The DSL, elevated: reads two alerts, then looks round.
        dsl = await new_page(browser)
        await sign_in(dsl, base, school.emails["T02"])
        await dsl.goto(f"{base}/elevate?next=/")
        await shoot(dsl, out, "elevate")
        await elevate(dsl, secret)
        for incident in ids[:2]:
            alerts = await api(
                stack, school, "GET", f"/v1/incidents/{incident}/alerts", notifier=True
            )
            mine = [a for a in alerts if a["recipient"] == "T02" and a["event"] == "incident"]
            await dsl.goto(f"{base}/alerts/{mine[0]['id']}")
        await dsl.goto(f"{base}/")
        await shoot(dsl, out, "my-alerts")
        await dsl.goto(f"{base}/incidents/{ids[0]}")
        await shoot(dsl, out, "incident")
        await dsl.goto(f"{base}/pupils/P1009")
        await shoot(dsl, out, "pupil")
        await dsl.goto(f"{base}/pupils?q=o")
        await shoot(dsl, out, "pupil-search")
        await dsl.goto(f"{base}/dsl")
        await shoot(dsl, out, "safeguarding-overview")
        await dsl.goto(f"{base}/enrol")
        await shoot(dsl, out, "authenticator")
        await dsl.locator("#blank-screen-button").click()
        await shoot(dsl, out, "blank-screen", (1280,))


async def main(out: Path) -> None:
    redis = RedisServer().start()
    sink = SmtpSink().start()
    database_url = await create_database()
    ingest_port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url(0),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "SMTP_FROM": "Beacon <beacon@oakfield.example>",
        "BEACON_BASE_URL": f"http://127.0.0.1:{ingest_port}",
        "BEACON_ADMIN_TOKEN": ADMIN_TOKEN,
        "BEACON_SECRET_KEY": SECRET_KEY,
        "INGEST_PORT": str(ingest_port),
        "NOTIFIER_PORT": str(free_port()),
        "RELAY_INTERVAL": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    stack = Stack(env, ("ingest", "worker", "notifier"))
    try:
        stack.start()
        await photograph(stack, out)
    finally:
        stack.stop()
        await drop_database(database_url)
        sink.stop()
        redis.cleanup()
    print(f"written to {out}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
