"""Two schools behind the real ingest and notifier apps, as an attacker finds them.

Each school is created through the admin API with the sample roster and an API key; every
member of staff has a password (a different one per school, since the roster's addresses are
the same in both); incidents are posted through the API and the real worker is drained, so
alerts exist to be probed.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app as create_ingest
from services.notifier.main import create_app as create_notifier
from services.worker.main import build_worker, close_worker
from shared.auth import accounts
from shared.auth.passwords import hash_password
from shared.config import Settings
from tests.ingest.conftest import incident, new_school
from tests.staff.client import Browser, wait_for
from tests.support.roster import STAFF

PASSWORDS = {"home": "Kettle-Drum-93!", "away": "Lantern-Moss-58?"}
EMAILS = {s["id"]: s["email"] for s in STAFF}
RESTRICTED = "safeguarding/cp-plan"


@dataclass
class School:
    name: str
    id: uuid.UUID
    key: str
    password: str
    incidents: dict[str, uuid.UUID] = field(default_factory=dict)
    alerts: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)  # (incident, staff)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class World:
    ingest: TestClient
    notifier: TestClient
    pg: asyncpg.Pool
    home: School
    away: School

    async def browser(
        self, staff: str, school: School | None = None, client: TestClient | None = None
    ) -> Browser:
        """Signed in as `staff` of `school` (home by default), on `client` (ingest)."""
        school = school or self.home
        b = Browser(client or self.ingest)
        r = await b.login(EMAILS[staff], school.password)
        assert r.status == 201, await r.text()
        return b

    def on_notifier(self, browser: Browser) -> Browser:
        """The same session (cookie and CSRF token) used against the notifier's port."""
        b = Browser(self.notifier)
        b.cookie, b.csrf = browser.cookie, browser.csrf
        return b

    async def count(self, table: str) -> int:
        return await self.pg.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608


@pytest.fixture
def security_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, api_key_rate=0)


@pytest.fixture
async def world(security_settings: Settings, pg: asyncpg.Pool) -> AsyncIterator[World]:
    async with (
        TestClient(TestServer(create_ingest(security_settings))) as ingest,
        TestClient(TestServer(create_notifier(security_settings))) as notifier,
    ):
        home = await _school(ingest, pg, "Riverside Primary", PASSWORDS["home"])
        away = await _school(ingest, pg, "Elmwood Academy", PASSWORDS["away"])
        await _post(ingest, home, "ordinary", incident())
        await _post(ingest, home, "other_class", incident(author="S07", pupil="P0002"))
        await _post(ingest, home, "restricted", incident(author="S04", categories=[RESTRICTED]))
        await _post(ingest, away, "ordinary", incident())
        await _resolve_alerts(security_settings, pg, (home, away))
        yield World(ingest, notifier, pg, home, away)


async def _school(client: TestClient, pg: asyncpg.Pool, name: str, password: str) -> School:
    made = await new_school(client, name)
    school = School(name, uuid.UUID(made.id), made.key, password)
    stored = hash_password(password)
    async with pg.acquire() as conn:
        for row in await conn.fetch("SELECT id FROM staff WHERE school_id = $1", school.id):
            await accounts.set_password_hash(conn, school.id, row["id"], stored)
    return school


async def _post(client: TestClient, school: School, name: str, body: dict[str, Any]) -> None:
    r = await client.post("/v1/incidents", json=body, headers=school.headers)
    assert r.status == 201, await r.text()
    school.incidents[name] = uuid.UUID((await r.json())["id"])


async def _resolve_alerts(
    settings: Settings, pg: asyncpg.Pool, schools: tuple[School, ...]
) -> None:
    """Wait for the doorbell to ring every event, then drain the production worker."""
    await wait_for(
        lambda: pg.fetchval(
            "SELECT NOT EXISTS (SELECT FROM alert_events WHERE enqueued_at IS NULL)"
        )
    )
    worker = build_worker(settings, burst=True, poll_delay=0, handle_signals=False, ctx={"pg": pg})
    try:
        await worker.run_check()
    finally:
        await close_worker(worker)
    for school in schools:
        names = {v: k for k, v in school.incidents.items()}
        for r in await pg.fetch(
            """SELECT a.id, a.incident_id, s.external_id FROM alerts a
                   JOIN staff s ON s.id = a.recipient_id WHERE a.school_id = $1""",
            school.id,
        ):
            school.alerts[(names[r["incident_id"]], r["external_id"])] = r["id"]
