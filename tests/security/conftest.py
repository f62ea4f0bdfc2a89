"""Two schools behind the real ingest and notifier apps, as an attacker finds them.

Each school is one of the test world's (tests/support/world.py): the sample roster, an API key
and a password for every member of staff (a different one per school, since the roster's
addresses are the same in both). Its incidents are recorded as ingest records them, with the
school's key, and the worker's own resolution makes their alerts, so alerts exist to be probed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app as create_ingest
from services.notifier.main import create_app as create_notifier
from shared.config import Settings
from tests.staff.client import Browser
from tests.support.roster import STAFF
from tests.support.world import (
    RESTRICTED,
    School,
    record_incident,
    resolve_alerts,
    seed_school,
    set_passwords,
)

PASSWORDS = {"home": "Kettle-Drum-93!", "away": "Lantern-Moss-58?"}
EMAILS = {s["id"]: s["email"] for s in STAFF}
ROUTINE = "cause-for-concern/injury-bruise"


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
        r = await b.login(EMAILS[staff], school.password or "")
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
        pg.acquire() as conn,
    ):
        home = await _school(conn, "Riverside Primary", PASSWORDS["home"])
        away = await _school(conn, "Elmwood Academy", PASSWORDS["away"])
        await _record(conn, home, "ordinary", "S06", "P0001", [ROUTINE])
        await _record(conn, home, "other_class", "S07", "P0002", [ROUTINE])
        await _record(conn, home, "restricted", "S04", "P0001", [RESTRICTED])
        await _record(conn, away, "ordinary", "S06", "P0001", [ROUTINE])
        yield World(ingest, notifier, pg, home, away)


async def _school(conn: asyncpg.Connection, name: str, password: str) -> School:
    school = await seed_school(conn, name)
    await set_passwords(conn, school, password)
    return school


async def _record(
    conn: asyncpg.Connection,
    school: School,
    name: str,
    author: str,
    pupil: str,
    categories: Iterable[str],
) -> None:
    """An incident (through ingest's recording) and its alerts (the worker's resolution)."""
    recorded = await record_incident(
        conn, school, author, pupil, categories, description="Bruise on left forearm."
    )
    school.incidents[name] = recorded.id
    for staff, alert in (await resolve_alerts(conn, recorded.event)).items():
        school.alerts[(name, staff)] = alert
