"""The school admin's pages in a real browser against `beacon ingest`: an admin signs in,
elevates, uploads the MIS's three CSV files, sees the preview naming the one bad row, imports,
creates and revokes an API key, adds a category with an email-safe name; axe-core (WCAG
2.0/2.1 A and AA, 2.2 AA) finds nothing on any admin page built here, at 1280 px or at 320 px,
where nothing scrolls sideways.

Set ADMIN_SCREENSHOTS to a folder to keep a screenshot of each page at both widths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.admin.test_roster_csv import csv_files
from tests.support.roster import roster
from tests.web import (
    Stack,
    elevate,
    enrol,
    launch,
    new_page,
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


@pytest.fixture
async def stack(env):
    s = Stack(env, ("ingest",)).start()
    yield s
    s.stop()


class Checks:
    def __init__(self) -> None:
        self.axe = Axe()
        self.failures: list[str] = []
        self.shots = (
            Path(os.environ["ADMIN_SCREENSHOTS"]) if os.environ.get("ADMIN_SCREENSHOTS") else None
        )

    async def check(self, page: Any, label: str) -> None:
        for name, size in (("1280", DESKTOP), ("320", PHONE)):
            await page.set_viewport_size(size)
            result = await self.axe.run(page, options=AXE_OPTIONS)
            if result.violations_count:
                self.failures.append(f"== {label} at {name} px\n{result.generate_report()}")
            width = await page.evaluate("document.documentElement.scrollWidth")
            if size is PHONE and width > PHONE["width"]:
                self.failures.append(f"== {label}: scrolls sideways at 320 px ({width})")
            if self.shots:
                self.shots.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=self.shots / f"{label}-{name}.png", full_page=True)
        await page.set_viewport_size(DESKTOP)


async def test_an_admin_imports_the_roster_and_manages_keys(stack, env):
    school = await seed_school(stack)
    checks = Checks()
    data = roster()
    data["pupils"][1]["last_name"] = "Moonbeam-Hart"
    files = csv_files(data, bom=True)
    files["pupils"] += b"P0009,Nora,,2017-01-01,C3\r\n"  # line 5: no last name

    async with launch() as browser:
        page = await new_page(browser)
        base = stack.base
        await sign_in(page, base, school.emails["S09"])
        secret = await enrol(page, base)
        await page.goto(f"{base}/admin")
        assert "/elevate" in page.url
        await elevate(page, secret)
        assert page.url.endswith("/admin"), page.url
        await checks.check(page, "admin")

        await page.get_by_role("link", name="Roster").first.click()
        await checks.check(page, "roster")
        for table, label in (("staff", "Staff"), ("classes", "Classes"), ("pupils", "Pupils")):
            await page.get_by_label(f"{label} (CSV file)").set_input_files(
                files=[{"name": f"{table}.csv", "mimeType": "text/csv", "buffer": files[table]}]
            )
        async with page.expect_navigation():
            await page.get_by_role("button", name="Check the files").click()
        bad = page.locator("#bad-rows tbody tr")
        assert await bad.count() == 1
        assert "last_name" in await bad.inner_text() and "5" in await bad.inner_text()
        assert "Yannick Moonbeam-Hart (P0002): last name" in await page.inner_text("main")
        await checks.check(page, "roster-preview")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Import the roster").click()
        assert "The roster was imported." in await page.inner_text("main")
        await checks.check(page, "roster-imported")

        await page.goto(f"{base}/admin/staff")
        assert "Ida Admin" in await page.inner_text("#staff")
        await checks.check(page, "staff")

        await page.goto(f"{base}/admin/keys")
        await checks.check(page, "keys")
        await page.get_by_label("Name", exact=True).fill("Behaviour app")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Create key").click()
        key = (await page.locator("#new-key").inner_text()).strip()
        assert key.startswith("bk_")
        await checks.check(page, "key-created")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Revoke Behaviour app").click()
        assert "The key was revoked." in await page.inner_text("main")
        assert key not in await page.content()

        await page.goto(f"{base}/admin/pending-roles")
        await checks.check(page, "pending-roles")

        # The categories page (built beside these): a category with an email-safe name.
        await page.goto(f"{base}/admin/categories")
        await page.get_by_label("Name", exact=True).fill("Online safety")
        await page.get_by_label("Group").select_option("cause-for-concern")
        await page.get_by_label("Email-safe name (optional)").fill("Pastoral note")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Add category").click()
        assert "cause-for-concern/online-safety" in await page.inner_text("main")
        assert "Pastoral note" in await page.inner_text("main")

    assert not checks.failures, "\n".join(checks.failures)
