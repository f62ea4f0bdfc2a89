"""Every staff page, in a real browser against `beacon ingest` (with the worker and notifier,
so the alerts are real): axe-core (WCAG 2.0/2.1 A and AA, 2.2 AA) finds nothing, at desktop
width and at 320 px; at 320 px nothing scrolls sideways (WCAG 1.4.10 Reflow); and the pages'
main actions work from the keyboard with a visible focus.

Pages are visited as the people who use them: signed out, as a class teacher, as the DSL
before and after elevating (the DSL enrols an authenticator from the page's secret), and as
the school's admin (S09, enrolled and elevated the same way). Form error states are included:
the empty sign-in form, the empty "Record a concern" form, the empty elevation form, and each
export, report, subject access and admin form refused.

The export page follows a waiting export in place (beacon.js); the worker is stopped for a
moment so one waits while it is checked.

Set A11Y_SCREENSHOTS to a folder to keep a full-page screenshot of every page state at both
widths.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.auth import totp
from tests.admin.test_roster_csv import csv_files
from tests.support.roster import roster
from tests.support.smtp_sink import SmtpSink
from tests.support.until import until
from tests.web import (
    PASSWORD,
    Stack,
    api,
    elevate,
    enrol,
    launch,
    new_page,
    problem,
    seed_school,
    sign_in,
    skip_without_browser,
)

skip_without_browser()

from axe_playwright_python.async_playwright import Axe  # noqa: E402

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 320, "height": 640}
SHOTS = os.environ.get("A11Y_SCREENSHOTS", "")
# Violations known and not fixable in the markup alone: (page state, axe rule) -> why. Each
# must still be found at both widths (once it is fixed, remove it here); any other fails.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass
class Walk:
    """The checks on each page state, collected so one run reports every page."""

    base: str
    axe: Axe = field(default_factory=Axe)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)
    shots: Path | None = Path(SHOTS) if SHOTS else None

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda e: self.page_errors.append(f"{page.url}: {e}"))

    async def visit(self, page: Any, label: str, path: str, status: int = 200) -> None:
        """Go to `path` (following redirects) and check what it shows."""
        response = await page.goto(self.base + path)
        got = response.status if response else None
        assert got == status, f"{label}: {path} answered {got}, not {status} (at {page.url})"
        await self.check(page, label)

    async def check(self, page: Any, label: str) -> None:
        assert label not in self.results, f"two page states called {label!r}"
        desktop = await self.axe.run(page, options=AXE_OPTIONS)
        await self.screenshot(page, label, DESKTOP)
        await page.set_viewport_size(PHONE)
        width = await page.evaluate("document.documentElement.scrollWidth")
        phone = await self.axe.run(page, options=AXE_OPTIONS)
        await self.screenshot(page, label, PHONE)
        await page.set_viewport_size(DESKTOP)
        self.results[label] = {
            "url": page.url.removeprefix(self.base),
            "desktop": desktop,
            "phone": phone,
            "scroll_width": width,
        }

    async def screenshot(self, page: Any, label: str, size: dict[str, int]) -> None:
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        await page.screenshot(path=self.shots / f"{name}-{size['width']}.png", full_page=True)

    def unexpected(self, label: str, result: Any) -> list[str]:
        """The ids of the rules `result` breaks that are not known on this page state."""
        found = [v["id"] for v in result.response["violations"]]
        return [rule for rule in found if (label, rule) not in KNOWN]

    def report(self) -> str:
        lines = [f"{'page state':52} {'axe 1280':>8} {'axe 320':>8} {'width@320':>10}"]
        for label, r in self.results.items():
            desktop = len(self.unexpected(label, r["desktop"]))
            phone = len(self.unexpected(label, r["phone"]))
            lines.append(f"{label:52} {desktop:>8} {phone:>8} {r['scroll_width']:>10}  {r['url']}")
        lines += [
            f"KNOWN, not counted: {label}: {rule}: {why}" for (label, rule), why in KNOWN.items()
        ]
        return "\n".join(lines)

    def failures(self) -> str:
        out = []
        for label, r in self.results.items():
            for width, result in (("1280", r["desktop"]), ("320", r["phone"])):
                for rule in self.unexpected(label, result):
                    out.append(
                        f"== {label} at {width} px ({r['url']})\n{result.generate_report(rule)}"
                    )
                found = {v["id"] for v in result.response["violations"]}
                for known, rule in KNOWN:
                    if known == label and rule not in found:
                        out.append(f"== {label} at {width} px: {rule} is fixed: drop it from KNOWN")
            if r["scroll_width"] > PHONE["width"]:
                out.append(
                    f"== {label}: scrolls sideways at 320 px "
                    f"(scrollWidth {r['scroll_width']}) ({r['url']})"
                )
        out += [
            f"== {label}: a known violation's page state is no longer walked"
            for label, _ in KNOWN
            if label not in self.results
        ]
        out += [f"== JavaScript error: {e}" for e in self.page_errors]
        return "\n".join(out)


@dataclass
class Seeded:
    school: Any
    incident: str  # recorded by the teacher S06 about P0001, naming the DSL
    other: str  # recorded by pastoral staff about P0003, alerting the class teacher S06
    dsl_alert: str
    teacher_alert: str
    reset_path: str


async def seed(stack: Stack, sink: SmtpSink) -> Seeded:
    school = await seed_school(stack)
    now = dt.datetime.now(dt.UTC)
    first = await api(
        stack,
        school,
        "POST",
        "/v1/incidents",
        {
            "author": "S06",
            "pupil": "P0001",
            "occurred_at": (now - dt.timedelta(hours=2)).isoformat(),
            "description": "Bruise on the left forearm, noticed at lunch. Said it was from PE.",
            "categories": ["cause-for-concern/injury-bruise"],
            "alert_staff": ["S04"],
            "agencies": ["School nurse"],
            "body_map": [{"view": "front", "region": "left-forearm", "note": "Bruise, 3 cm"}],
        },
    )
    second = await api(
        stack,
        school,
        "POST",
        "/v1/incidents",
        {
            "author": "S03",
            "pupil": "P0003",
            "occurred_at": (now - dt.timedelta(days=1)).isoformat(),
            "description": "Upset at drop-off; spoke to a parent.",
            "categories": ["cause-for-concern/mental-health"],
        },
    )
    await api(
        stack,
        school,
        "POST",
        f"/v1/incidents/{first['id']}/actions",
        {"author": "S03", "description": "Phoned home; parent confirmed the PE knock."},
    )

    async def alert_for(incident: str, recipient: str) -> str | None:
        alerts = await api(stack, school, "GET", f"/v1/incidents/{incident}/alerts", notifier=True)
        return next(
            (a["id"] for a in alerts if a["recipient"] == recipient and a["event"] == "incident"),
            None,
        )

    dsl_alert = await until(lambda: alert_for(first["id"], "S04"), 20, stack.logs)
    teacher_alert = await until(lambda: alert_for(second["id"], "S06"), 20, stack.logs)

    # A real set-password link, as the email gives it.
    await api(stack, school, "POST", "/v1/password-reset", {"email": school.emails["S06"]})

    def reset_link() -> str | None:
        for m in sink.messages:
            found = re.search(r"/reset/[A-Za-z0-9_\-]+", m.data.decode(errors="replace"))
            if found:
                return found.group(0)
        return None

    reset_path = await until(reset_link, 20, "no set-password email")
    return Seeded(school, first["id"], second["id"], dsl_alert, teacher_alert, reset_path)


@pytest.fixture
async def stack(env):
    s = Stack(env, ("ingest", "worker", "notifier")).start()
    yield s
    s.stop()


@pytest.fixture
async def browser():
    async with launch() as b:
        yield b


async def test_every_page_passes_axe_and_reflows_at_320px(stack, browser, smtp_sink):
    seeded = await seed(stack, smtp_sink)
    school = seeded.school
    walk = Walk(stack.base)

    # Signed out.
    page = await new_page(browser)
    walk.watch(page)
    await walk.visit(page, "sign in", "/login")
    await page.get_by_role("button", name="Sign in").click()
    await page.locator(".govuk-error-summary").wait_for()
    await walk.check(page, "sign in, empty form submitted")
    await walk.visit(page, "sign in, session ended", "/login?ended=1")
    await walk.visit(page, "set or reset password", "/reset")
    await walk.visit(page, "choose a password (reset link)", seeded.reset_path)
    await walk.visit(page, "alert link, signed out", f"/alerts/{seeded.dsl_alert}")
    assert "/login?next=" in page.url, page.url
    await walk.visit(page, "blank screen page, signed out", "/blank")
    await walk.visit(page, "page not found", "/no-such-page", status=404)

    # A class teacher.
    page = await new_page(browser)
    walk.watch(page)
    await sign_in(page, stack.base, school.emails["S06"])
    await walk.visit(page, "my alerts (teacher)", "/")
    await page.locator("#blank-screen-button").click()
    await page.locator("#blank-screen").wait_for(state="visible")
    await walk.check(page, "blank screen shown (teacher)")
    await page.get_by_role("button", name="Show page").click()
    await walk.visit(page, "blank screen page (teacher)", "/blank?next=/")
    await walk.visit(page, "record a concern", "/incidents/new")
    await page.get_by_role("button", name="Submit").click()
    await page.locator(".govuk-error-summary").wait_for()
    await walk.check(page, "record a concern, empty form submitted")
    await walk.visit(page, "alert link (teacher)", f"/alerts/{seeded.teacher_alert}")
    await walk.visit(page, "incident with an action (teacher)", f"/incidents/{seeded.incident}")
    await walk.visit(page, "pupil search (teacher)", "/pupils?q=Zeph")
    await walk.visit(page, "pupil chronology (teacher)", "/pupils/P0001")
    await walk.visit(page, "authenticator, none yet (teacher)", "/enrol")
    await walk.visit(page, "elevate (teacher)", "/elevate")
    await walk.visit(page, "no such alert (teacher)", f"/alerts/{seeded.dsl_alert}", status=404)
    await walk.visit(page, "safeguarding link (teacher)", "/dsl", status=404)

    # The DSL: first not elevated, then enrolled and elevated.
    page = await new_page(browser)
    walk.watch(page)
    await sign_in(page, stack.base, school.emails["S04"])
    await walk.visit(page, "my alerts (DSL, not elevated)", "/")
    await walk.visit(page, "authenticator, none yet (DSL)", "/enrol")
    await page.get_by_role("button", name="Set up an authenticator app").click()
    await page.locator("code#secret").wait_for()
    await walk.check(page, "authenticator, secret shown")
    secret = await enrol(page, stack.base)
    await walk.visit(page, "authenticator, one device", "/enrol")
    await walk.visit(page, "elevate (DSL)", "/elevate?next=/dsl")
    await page.get_by_role("button", name="Elevate access").click()
    await page.locator(".govuk-error-summary").wait_for()
    await walk.check(page, "elevate, empty form submitted")
    await elevate(page, secret)
    await walk.visit(page, "safeguarding overview (DSL)", "/dsl")
    await walk.visit(page, "alert link (DSL, elevated)", f"/alerts/{seeded.dsl_alert}")
    await walk.visit(page, "incident, other pupil (DSL)", f"/incidents/{seeded.other}")
    await walk.visit(page, "pupil search (DSL)", "/pupils?q=a")
    await walk.visit(page, "pupil chronology (DSL)", "/pupils/P0003")
    await walk.visit(page, "my alerts (DSL, elevated)", "/")
    await walk_exports(walk, page, stack)
    await walk_sars(walk, page)

    # The school's admin, enrolled and elevated through the pages.
    dsl = page
    page = await new_page(browser)
    walk.watch(page)
    await sign_in(page, stack.base, school.emails["S09"])
    secret = await enrol(page, stack.base)
    await page.goto(f"{stack.base}/admin")
    assert "/elevate" in page.url, page.url
    await elevate(page, secret)
    assert page.url == f"{stack.base}/admin", page.url
    await walk.check(page, "school admin")
    await walk_admin(walk, page)
    await walk.visit(dsl, "roles waiting, to decide (DSL)", "/admin/pending-roles")

    print("\n" + walk.report())
    failures = walk.failures()
    assert not failures, f"{walk.report()}\n\n{failures}"


async def submit(page: Any, button: str) -> None:
    """Press the form's button and wait for the page it leads to."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=button, exact=True).click()


async def refused(page: Any, button: str) -> None:
    """Press the form's button; the page comes back with its error summary."""
    await submit(page, button)
    await page.locator(".govuk-error-summary").wait_for()


@asynccontextmanager
async def held_still(page: Any) -> AsyncIterator[None]:
    """The page's own refresh answered 204 No Content, so the document stays while checked;
    then the page again, refreshing itself as before."""
    url = page.url

    async def no_content(route: Any) -> None:
        await route.fulfill(status=204)

    await page.route(url, no_content)
    try:
        yield
    finally:
        await page.unroute(url, no_content)
    await page.reload()


async def ready(page: Any) -> None:
    """Wait on an export's page, refreshing itself, until the worker has made the file."""
    download = page.get_by_role("link", name=re.compile(r"^Download the "))
    await download.wait_for(timeout=60_000)


async def walk_exports(walk: Walk, page: Any, stack: Stack) -> None:
    """The elevated DSL: the chronology export form, an export waiting and done, /reports."""
    await walk.visit(page, "export chronology form (DSL)", "/pupils/P0001/export")
    for part, value in (("day", "31"), ("month", "2"), ("year", "2026")):
        await page.locator(f"#from-{part}").fill(value)
    await refused(page, "Export chronology")
    await walk.check(page, "export chronology, impossible date")

    # With the worker stopped the export waits, and its page shows the progress bar.
    worker = stack.service("worker")
    worker.stop()
    try:
        for part in ("day", "month", "year"):
            await page.locator(f"#from-{part}").fill("")
        await page.get_by_label("CSV (a spreadsheet)").check()
        await submit(page, "Export chronology")
        assert re.search(r"/exports/[0-9a-f-]{36}$", page.url), page.url
        await page.locator("progress#export-progress").wait_for()
        async with held_still(page):
            await walk.check(page, "export, waiting (progress bar)")
    finally:
        worker.start()
    await ready(page)
    await walk.check(page, "export, ready (download link)")

    await walk.visit(page, "reports, with recent exports (DSL)", "/reports")
    await page.get_by_label("From", exact=True).fill("2026-03-01")
    await page.get_by_label("To", exact=True).fill("2026-02-01")
    await refused(page, "Make the governors' report")
    await walk.check(page, "reports, governors' dates the wrong way round")


async def walk_sars(walk: Walk, page: Any) -> None:
    """The elevated DSL: the register, one request, its clock and the draft's redactions."""
    await walk.visit(page, "subject access requests, none open (DSL)", "/sars")
    await refused(page, "Register the request")
    await walk.check(page, "subject access requests, empty form submitted")
    await page.get_by_label("Pupil ID").fill("P0001")
    await page.get_by_label("Who made the request").fill("Zara Quillfeather")
    await page.get_by_label("Their relationship to the pupil").fill("Parent")
    await page.get_by_label("Received on").fill(dt.date.today().isoformat())
    await submit(page, "Register the request")
    assert re.search(r"/sars/[0-9a-f-]{36}$", page.url), page.url
    sar = page.url.removeprefix(walk.base)
    await walk.check(page, "subject access request, just registered")
    await refused(page, "Extend")
    await walk.check(page, "subject access request, extension without a reason")
    await submit(page, "Make the review draft")
    await ready(page)
    await walk.visit(page, "subject access request, the draft's redactions", sar)
    assert await page.locator("#decisions ~ table tbody tr").count(), "no third parties found"
    await page.get_by_label("Stop the clock while identity or scope is clarified: why").fill(
        "Checking the requester's identity"
    )
    await submit(page, "Stop the clock")
    await walk.check(page, "subject access request, clock stopped")
    await walk.visit(page, "subject access requests, one open", "/sars")


async def walk_admin(walk: Walk, page: Any) -> None:
    """The elevated school admin: every /admin page, with a form refused on each that has one."""
    await walk.visit(page, "admin: staff", "/admin/staff")

    await walk.visit(page, "admin: roster upload", "/admin/roster")
    await refused(page, "Check the files")
    await walk.check(page, "admin: roster, no files chosen")
    data = roster()
    data["staff"][7]["roles"].append("pastoral")  # S08: a new role, to wait for confirmation
    files = csv_files(data, bom=True)
    files["pupils"] += b"P0009,Nora,,2017-01-01,C3\r\n"  # no last name: a bad row
    for table, label in (("staff", "Staff"), ("classes", "Classes"), ("pupils", "Pupils")):
        await page.get_by_label(f"{label} (CSV file)").set_input_files(
            files=[{"name": f"{table}.csv", "mimeType": "text/csv", "buffer": files[table]}]
        )
    await submit(page, "Check the files")
    await page.locator("#bad-rows").wait_for()
    await walk.check(page, "admin: roster preview (a bad row, a role to confirm)")
    await submit(page, "Import the roster")
    await walk.check(page, "admin: roster imported")
    await walk.visit(page, "admin: roles waiting (admin)", "/admin/pending-roles")

    await walk.visit(page, "admin: API keys", "/admin/keys")
    await refused(page, "Create key")
    await walk.check(page, "admin: API keys, empty form submitted")
    await page.get_by_label("Name", exact=True).fill("Behaviour app")
    await submit(page, "Create key")
    await page.locator("#new-key").wait_for()
    await walk.check(page, "admin: API key created (shown once)")

    await walk.visit(page, "admin: categories", "/admin/categories")
    await refused(page, "Add category")
    await walk.check(page, "admin: categories, empty form submitted")
    slug = "cause-for-concern/injury-bruise"
    await walk.visit(page, "admin: change a category", f"/admin/categories/change?slug={slug}")

    await walk.visit(page, "admin: alert rules", "/admin/rules")
    await page.get_by_label("An incident in").select_option(slug)
    await page.get_by_label("About a pupil of").select_option("C3")
    await submit(page, "Show who")
    await page.locator("#preview-result").wait_for()
    await walk.check(page, "admin: alert rules, who would be alerted")

    await walk.visit(page, "admin: calendar", "/admin/calendar")
    await page.get_by_label("The school day starts at").fill("25:00")
    await refused(page, "Save calendar")
    await walk.check(page, "admin: calendar, impossible time")


async def focused(locator: Any) -> bool:
    return bool(await locator.evaluate("el => el === document.activeElement"))


async def tab_to(page: Any, locator: Any, limit: int = 300) -> int:
    """Press Tab until `locator` has the focus; the number of presses. Fails past `limit`."""
    for presses in range(1, limit + 1):
        await page.keyboard.press("Tab")
        if await focused(locator):
            return presses
    raise AssertionError(f"{locator} not reached with {limit} presses of Tab on {page.url}")


async def focus_visible(locator: Any) -> bool:
    """GOV.UK Frontend's focus style: a yellow fill with a box shadow, or an outline."""
    style = await locator.evaluate(
        """el => { const s = getComputedStyle(el);
                   return {shadow: s.boxShadow, outline: s.outlineStyle,
                           colour: s.outlineColor, width: s.outlineWidth}; }"""
    )
    outlined = style["outline"] != "none" and "rgba(0, 0, 0, 0)" not in style["colour"]
    return style["shadow"] != "none" or (outlined and style["width"] != "0px")


async def press(page: Any, locator: Any, label: str) -> int:
    """Tab to `locator`, check its focus shows, and press Enter on it."""
    presses = await tab_to(page, locator)
    assert await focus_visible(locator), f"{label}: no visible focus"
    await page.keyboard.press("Enter")
    return presses


async def test_main_actions_work_from_the_keyboard(stack, browser, smtp_sink):
    seeded = await seed(stack, smtp_sink)
    school = seeded.school
    base = stack.base
    page = await new_page(browser)

    # Sign in with the keyboard alone: the skip link first, then the form.
    await page.goto(f"{base}/login?next=/")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    assert await focused(skip) and await focus_visible(skip)
    await tab_to(page, page.get_by_label("Email address"))
    await page.keyboard.type(school.emails["S04"])
    await tab_to(page, page.get_by_label("Password"), limit=2)
    await page.keyboard.type(PASSWORD)
    async with page.expect_navigation():
        await press(page, page.get_by_role("button", name="Sign in"), "sign in")
    assert page.url == f"{base}/", f"{page.url}: {await problem(page)}"

    # Blank screen, and back, from the header.
    await press(page, page.get_by_role("link", name="Blank screen"), "blank screen")
    await page.locator("#blank-screen").wait_for(state="visible")
    show = page.get_by_role("button", name="Show page")
    assert await focused(show), "the focus did not move to Show page"
    await page.keyboard.press("Enter")
    await page.locator("#blank-screen").wait_for(state="hidden")

    # Enrol and elevate by keyboard.
    await page.goto(f"{base}/enrol")
    async with page.expect_navigation():
        await press(page, page.get_by_role("button", name="Set up an authenticator app"), "enrol")
    secret = (await page.locator("code#secret").text_content() or "").strip()
    await tab_to(page, page.get_by_label("First code from the app"))
    await page.keyboard.type(totp.code_at(secret, totp.current_step()))
    async with page.expect_navigation():
        await press(page, page.get_by_role("button", name="Confirm"), "confirm")
    await page.goto(f"{base}/elevate?next=/dsl")
    await tab_to(page, page.get_by_label("Code from your authenticator app"))
    await page.keyboard.type(totp.code_at(secret, totp.current_step() + 1))
    async with page.expect_navigation():
        await press(page, page.get_by_role("button", name="Elevate access"), "elevate")
    assert "/elevate" not in page.url, page.url

    # Each page's main action is reachable by Tab.
    for path, role, name in (
        ("/incidents/new", "button", "Submit"),
        (f"/incidents/{seeded.incident}", "button", "Add action"),
        ("/pupils?q=Zeph", "button", "Search"),
        ("/", "link", "Record a concern"),
    ):
        response = await page.goto(base + path)
        assert response.status == 200, (path, response.status)
        await tab_to(page, page.get_by_role(role, name=name, exact=True).last)

    # The empty "Record a concern", submitted by keyboard: the error summary takes the focus.
    await page.goto(f"{base}/incidents/new")
    async with page.expect_navigation():
        await press(page, page.get_by_role("button", name="Submit"), "submit")
    summary = page.locator(".govuk-error-summary")
    await summary.wait_for()
    await until(lambda: focused(summary), 5, "the error summary did not take the focus")
