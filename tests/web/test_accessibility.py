"""Every staff page, in a real browser against `beacon ingest` (with the worker and notifier,
so the alerts are real): axe-core (WCAG 2.0/2.1 A and AA, 2.2 AA) finds nothing, at desktop
width and at 320 px; at 320 px nothing scrolls sideways (WCAG 1.4.10 Reflow); and the pages'
main actions work from the keyboard with a visible focus.

Pages are visited as the people who use them: signed out, as a class teacher, and as the DSL
before and after elevating (the DSL enrols an authenticator from the page's secret). Form
error states are included: the empty sign-in form, the empty "Record a concern" form, the
empty elevation form.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.auth import totp
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


@dataclass
class Walk:
    """The checks on each page state, collected so one run reports every page."""

    base: str
    axe: Axe = field(default_factory=Axe)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)

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
        await page.set_viewport_size(PHONE)
        width = await page.evaluate("document.documentElement.scrollWidth")
        phone = await self.axe.run(page, options=AXE_OPTIONS)
        await page.set_viewport_size(DESKTOP)
        self.results[label] = {
            "url": page.url.removeprefix(self.base),
            "desktop": desktop,
            "phone": phone,
            "scroll_width": width,
        }

    def report(self) -> str:
        lines = [f"{'page state':52} {'axe 1280':>8} {'axe 320':>8} {'width@320':>10}"]
        for label, r in self.results.items():
            lines.append(
                f"{label:52} {r['desktop'].violations_count:>8} {r['phone'].violations_count:>8}"
                f" {r['scroll_width']:>10}  {r['url']}"
            )
        return "\n".join(lines)

    def failures(self) -> str:
        out = []
        for label, r in self.results.items():
            for width, result in (("1280", r["desktop"]), ("320", r["phone"])):
                if result.violations_count:
                    out.append(f"== {label} at {width} px ({r['url']})\n{result.generate_report()}")
            if r["scroll_width"] > PHONE["width"]:
                out.append(
                    f"== {label}: scrolls sideways at 320 px "
                    f"(scrollWidth {r['scroll_width']}) ({r['url']})"
                )
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

    print("\n" + walk.report())
    failures = walk.failures()
    assert not failures, f"{walk.report()}\n\n{failures}"


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
