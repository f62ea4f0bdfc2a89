"""A real browser (Playwright driving Debian's headless chromium) through the staff pages of
`beacon ingest` run as a process: sign in on the form, enrol an authenticator from the secret
on the page, elevate with a computed code, blank the screen, and be signed out by the idle
timeout."""

import pytest

from shared.auth import totp
from tests.web import PASSWORD, Stack, launch, new_page, seed_school, skip_without_browser

skip_without_browser()

from playwright.async_api import expect  # noqa: E402

IDLE_SECONDS = 4


@pytest.fixture
async def stack(env):
    s = Stack({**env, "BEACON_SESSION_IDLE_SECONDS": str(IDLE_SECONDS)}).start()
    yield s
    s.stop()


async def test_sign_in_enrol_elevate_blank_and_idle_sign_out(stack):
    school = await seed_school(stack)
    base = stack.base
    async with launch() as browser:
        page = await new_page(browser)
        await page.goto(f"{base}/login")
        form = page.locator("form[action='/login']")
        assert await form.get_attribute("autocomplete") == "off"
        assert await page.get_by_label("Password").get_attribute("autocomplete") == "new-password"
        await page.get_by_label("Email address").fill(school.emails["S04"])
        await page.get_by_label("Password").fill(PASSWORD)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Sign in").click()
        assert page.url == f"{base}/", page.url
        elevate_link = page.get_by_role("link", name="Elevate access")
        await expect(elevate_link).to_be_visible()  # not elevated yet

        await page.goto(f"{base}/enrol")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Set up an authenticator app").click()
        await expect(page.locator("code#secret")).not_to_be_empty()
        secret = (await page.locator("code#secret").text_content() or "").strip()
        assert await page.evaluate("document.querySelector('img.beacon-qr').naturalWidth") > 100
        await page.get_by_label("Name for this device").fill("Work phone")
        await page.get_by_label("First code from the app").fill(
            totp.code_at(secret, totp.current_step())
        )
        async with page.expect_navigation():
            await page.get_by_role("button", name="Confirm").click()
        assert page.url == f"{base}/enrol", page.url
        await expect(page.get_by_text("Work phone")).to_be_visible()

        await page.goto(f"{base}/elevate?next=/")
        await page.get_by_label("Code from your authenticator app").fill(
            totp.code_at(secret, totp.current_step() + 1)
        )
        async with page.expect_navigation():
            await page.get_by_role("button", name="Elevate access").click()
        assert page.url == f"{base}/", page.url
        await expect(page.get_by_role("link", name="Elevate access")).to_have_count(0)

        await page.locator("#blank-screen-button").click()
        await expect(page.locator("#blank-screen")).to_be_visible()
        await expect(page.locator("#main-content")).to_be_hidden()
        await page.get_by_role("button", name="Show page").click()
        await expect(page.locator("#blank-screen")).to_be_hidden()
        await expect(page.locator("#main-content")).to_be_visible()

        # No activity: the page leaves for the login page, and the server has ended the session.
        await page.wait_for_url(f"{base}/login?ended=1", timeout=(IDLE_SECONDS + 5) * 1000)
        await page.goto(f"{base}/")
        assert page.url in (f"{base}/login?next=%2F", f"{base}/login?next=/"), page.url
