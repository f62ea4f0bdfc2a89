"""The staff pages in a real browser: helpers shared by tests/web's browser tests and
docs/screenshots.py.

- `Stack`: `beacon ingest`, `beacon worker` and `beacon notifier` as real processes
  (tests/support/processes.py), with the environment the tests give every service.
- `seed_school`: a school made as an operator makes one, through the admin API
  (POST /v1/schools, an API key, PUT the roster), then every member of staff given a password
  (as if each had used their set-password link).
- `launch`: Debian's headless chromium through Playwright; `bypass_csp` lets axe-core inject
  its script under the pages' strict CSP. http://127.0.0.1 is a secure context for chromium,
  so the Secure session cookie works without TLS.
- `sign_in`, `enrol`, `elevate`: the sign-in, authenticator and elevation forms, filled as a
  person would fill them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from shared.auth import accounts, totp
from shared.auth.passwords import hash_password
from tests.support.processes import Service
from tests.support.roster import roster

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Kettle-Drum-93!"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--no-first-run",
]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "pip install -e '.[test]' (playwright, axe-playwright-python)"
    if not shutil.which(CHROMIUM):
        return "apt-get install chromium"
    return None


def skip_without_browser() -> None:
    """At import of a browser test module: in CI a missing browser fails, elsewhere it skips."""
    import pytest

    missing = browser_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser tests need: {missing}")
    pytest.skip(f"the browser tests need: {missing}", allow_module_level=True)


class Stack:
    """Beacon's services as processes; `base` is ingest's address as the browser uses it."""

    def __init__(self, env: Mapping[str, str], services: tuple[str, ...] = ("ingest",)) -> None:
        self.env = dict(env)
        self.names = services
        self.services: list[Service] = []
        self.base = f"http://127.0.0.1:{self.env['INGEST_PORT']}"
        self.notifier = f"http://127.0.0.1:{self.env['NOTIFIER_PORT']}"
        self.admin = {"Authorization": f"Bearer {self.env['BEACON_ADMIN_TOKEN']}"}

    def start(self) -> Stack:
        ports = {"ingest": "INGEST_PORT", "notifier": "NOTIFIER_PORT"}
        for name in self.names:
            port = int(self.env[ports[name]]) if name in ports else None
            self.services.append(Service(name, self.env, health_port=port).start())
        return self

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.tail(3000)}" for s in self.services)

    def service(self, name: str) -> Service:
        """One of the stack's services, to stop and start again (the worker, to hold a job)."""
        return next(s for s in self.services if s.name == name)

    def alive(self) -> None:
        for s in self.services:
            assert s.proc is not None and s.proc.poll() is None, f"{s.name} exited: {s.tail()}"


@dataclass
class School:
    id: uuid.UUID
    key: str
    staff: dict[str, uuid.UUID] = field(default_factory=dict)  # roster id -> id
    emails: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # roster id -> full name (staff, pupils)
    pupils: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def seed_school(
    stack: Stack,
    name: str = "Oakfield Primary School",
    payload: dict[str, Any] | None = None,
    password: str = PASSWORD,
) -> School:
    """A school through the admin API; every member of staff signs in with `password`."""
    payload = payload or roster()
    async with aiohttp.ClientSession(base_url=stack.base, headers=stack.admin) as http:
        async with http.post("/v1/schools", json={"name": name}) as r:
            assert r.status == 201, await r.text()
            school_id = uuid.UUID((await r.json())["id"])
        async with http.put(f"/v1/schools/{school_id}/roster", json=payload) as r:
            assert r.status == 200, await r.text()
    school = School(school_id, await add_api_key(stack, school_id, "MIS"))
    for person in payload["staff"] + payload["pupils"]:
        school.names[person["id"]] = f"{person['first_name']} {person['last_name']}"
    school.emails = {s["id"]: s["email"] for s in payload["staff"]}
    stored = hash_password(password)
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        for table, ids in (("staff", school.staff), ("pupils", school.pupils)):
            rows = await conn.fetch(
                f"SELECT external_id, id FROM {table} WHERE school_id = $1",  # noqa: S608
                school_id,
            )
            ids.update({r["external_id"]: r["id"] for r in rows})
        for staff_id in school.staff.values():
            await accounts.set_password_hash(conn, school_id, staff_id, stored)
    finally:
        await conn.close()
    return school


async def add_api_key(
    stack: Stack, school_id: uuid.UUID, name: str, scopes: tuple[str, ...] = ()
) -> str:
    """A new key of the school (the default scopes, or these); the key itself."""
    body: dict[str, Any] = {"name": name}
    if scopes:
        body["scopes"] = list(scopes)
    async with aiohttp.ClientSession(base_url=stack.base, headers=stack.admin) as http:
        async with http.post(f"/v1/schools/{school_id}/api-keys", json=body) as r:
            if r.status == 400 and scopes and "scopes" in await r.text():
                # Before keys had scopes every key could do everything: ask for a plain one.
                return await add_api_key(stack, school_id, name)
            assert r.status == 201, await r.text()
            return str((await r.json())["key"])


async def api(
    stack: Stack,
    school: School,
    method: str,
    path: str,
    body: Any = None,
    notifier: bool = False,
    key: str | None = None,
) -> Any:
    """One call of the school's API (its key, or `key`), returning the JSON answer."""
    base = stack.notifier if notifier else stack.base
    headers = {"Authorization": f"Bearer {key}"} if key else school.headers
    async with aiohttp.ClientSession(base_url=base, headers=headers) as http:
        async with http.request(method, path, json=body) as r:
            assert r.status < 300, f"{method} {path}: {r.status} {await r.text()}"
            return await r.json() if r.content_type.endswith("json") else None


@asynccontextmanager
async def launch() -> AsyncIterator[Any]:
    """A headless chromium (Playwright's Browser)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Any, width: int = 1280, height: int = 900) -> Any:
    context = await browser.new_context(
        viewport={"width": width, "height": height}, bypass_csp=True, locale="en-GB"
    )
    return await context.new_page()


async def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    """The sign-in form, from wherever the page is (the login page or a link that sent us)."""
    if "/login" not in page.url:
        await page.goto(f"{base}/login")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()
    assert "/login" not in page.url, f"still on {page.url}: {await problem(page)}"


async def problem(page: Any) -> str:
    """The page's error summary, if it shows one (for assertion messages)."""
    summary = page.locator(".govuk-error-summary")
    return await summary.inner_text() if await summary.count() else "(no error summary)"


async def enrol(page: Any, base: str, device: str = "Work phone") -> str:
    """Sets up an authenticator from the secret the page shows; returns the secret."""
    await page.goto(f"{base}/enrol")
    await page.get_by_role("button", name="Set up an authenticator app").click()
    secret = (await page.locator("code#secret").text_content() or "").strip()
    assert secret, "no secret shown"
    await page.get_by_label("Name for this device").fill(device)
    await page.get_by_label("First code from the app").fill(
        totp.code_at(secret, totp.current_step())
    )
    async with page.expect_navigation():
        await page.get_by_role("button", name="Confirm").click()
    return secret


async def elevate(page: Any, secret: str, step_offset: int = 1) -> None:
    """On the elevate page: a fresh code (each time step is single-use; one step of drift is
    allowed, so the next step's code is accepted at once)."""
    code = totp.code_at(secret, totp.current_step() + step_offset)
    await page.get_by_label("Code from your authenticator app").fill(code)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Elevate access").click()
    assert "/elevate" not in page.url, f"not elevated: {page.url}: {await problem(page)}"
