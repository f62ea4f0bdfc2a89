"""A real browser (Playwright driving Debian's headless chromium) through the staff pages:
sign in, enrol an authenticator from the secret on the page, elevate with a computed code,
blank the screen, and be signed out by the idle timeout."""

import dataclasses
import os
import shutil

import pytest
from aiohttp import web

from services.ingest.main import create_app
from shared.auth import accounts, totp
from shared.auth.passwords import hash_password
from tests.staff.school import make_school
from tests.support.ports import free_port

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Kettle-Drum-93!"
IDLE_SECONDS = 3

try:
    from playwright import async_api as playwright_api
except ImportError:
    playwright_api = None
if playwright_api is None or not shutil.which(CHROMIUM):
    missing = "pip install playwright (test extra) and apt-get install chromium"
    if os.environ.get("CI"):  # in CI a missing browser is a failure, never a quiet skip
        raise RuntimeError(f"the browser test needs: {missing}")
    pytest.skip(f"the browser test needs: {missing}", allow_module_level=True)


@pytest.fixture
async def server(settings, pg):
    async with pg.acquire() as conn:
        school = await make_school(conn)
        await accounts.set_password_hash(
            conn, school.id, school.staff["S04"], hash_password(PASSWORD)
        )
    app = create_app(dataclasses.replace(settings, session_idle_seconds=IDLE_SECONDS))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    # localhost is a secure context for chromium, so it keeps the Secure cookie over HTTP.
    yield f"http://localhost:{port}", school.emails["S04"]
    await runner.cleanup()


@pytest.fixture
async def page():
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--no-first-run",
            ],
        )
        yield await browser.new_page()
        await browser.close()


async def test_sign_in_enrol_elevate_blank_and_idle_sign_out(server, page):
    base, email = server
    expect = playwright_api.expect
    await page.goto(f"{base}/login")
    assert await page.get_attribute("#login-form", "autocomplete") == "off"
    assert await page.get_attribute("#password", "autocomplete") == "new-password"
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/home")
    await expect(page.locator("#access")).to_have_text("Access not elevated.")

    await page.goto(f"{base}/enrol")
    await page.click("#enrol-start")
    await expect(page.locator("#secret")).not_to_be_empty()
    await expect(page.locator("#secret")).not_to_be_empty()
    secret = await page.text_content("#secret")
    assert await page.evaluate("document.getElementById('qr').naturalWidth") > 100  # drawn
    await page.fill("#enrol-code", totp.code_at(secret, totp.current_step()))
    await page.click("#enrol-form button[type=submit]")
    await expect(page.locator("#message")).to_have_text("Authenticator added.")

    await page.goto(f"{base}/elevate")
    await page.fill("#elevate-code", totp.code_at(secret, totp.current_step() + 1))
    await page.click("#elevate-form button[type=submit]")
    await expect(page.locator("#message")).to_have_text("Access elevated.")
    await page.goto(f"{base}/home")
    await expect(page.locator("#access")).to_have_text("Access elevated for this session.")

    await page.click("#blank")
    await expect(page.locator("#page")).to_be_hidden()
    await page.click("#unblank")
    await expect(page.locator("#page")).to_be_visible()

    # No activity: the page leaves for the login page, and the server has ended the session.
    await page.wait_for_url(f"{base}/login?ended=1", timeout=(IDLE_SECONDS + 5) * 1000)
    await page.goto(f"{base}/home")
    await page.wait_for_url(f"{base}/login")
