"""Exports through the real app and the real worker: a school of the one test world, staff
signed in (and elevated) as a browser does, and the production worker drained in burst mode."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from services.worker.main import build_worker, close_worker
from shared.auth import totp
from tests.staff.client import Browser, staff_app
from tests.support.world import (
    RESTRICTED,
    record_action,
    record_incident,
    seed_school,
    set_passwords,
)

PASSWORD = "Kettle-Drum-93!"
BEHAVIOUR = "behaviour/negative-behaviour"
DAY = dt.datetime(2026, 10, 5, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
async def school(pg):
    """P0001 has three incidents recorded out of order (the oldest typed up last), each but
    the newest with an action; one is restricted. P0002 has one of its own."""
    async with pg.acquire() as conn:
        made = await seed_school(conn)
        await set_passwords(conn, made, PASSWORD)
        second = await record_incident(
            conn,
            made,
            "S06",
            "P0001",
            [BEHAVIOUR],
            description="SecondMarker",
            occurred_at=DAY + dt.timedelta(days=2),
        )
        third = await record_incident(
            conn,
            made,
            "S04",
            "P0001",
            [RESTRICTED],
            description="ThirdMarker",
            occurred_at=DAY + dt.timedelta(days=9),
            agencies=["Children's social care"],
        )
        first = await record_incident(
            conn,
            made,
            "S07",
            "P0001",
            description="FirstMarker",
            occurred_at=DAY,
        )
        await record_action(conn, made, first.id, "S02", "Spoke to parent: FirstAction")
        await record_action(conn, made, second.id, "S04", "Called Finn Teacher back: SecondAction")
        await record_incident(conn, made, "S07", "P0002", description="OtherPupilMarker")
    made.recorded = {"first": first, "second": second, "third": third}
    return made


@pytest.fixture
async def client(settings, school):
    async with staff_app(settings) as c:
        yield c


@pytest.fixture
def drain(settings, pg):
    """The production worker, burst mode, until its queue is empty."""

    async def run() -> int:
        worker = build_worker(
            settings, burst=True, poll_delay=0, handle_signals=False, ctx={"pg": pg}
        )
        try:
            return await worker.run_check()
        finally:
            await close_worker(worker)

    return run


async def signed_in(client, school, staff):
    browser = Browser(client)
    response = await browser.login(school.emails[staff], PASSWORD)
    assert response.status == 201, await response.text()
    return browser


async def elevate(browser):
    r = await browser.request("POST", "/v1/me/totp")
    secret = (await r.json())["secret"]
    code = totp.code_at(secret, totp.current_step())
    r = await browser.request("POST", "/v1/me/totp/confirm", {"code": code, "device_name": "p"})
    assert r.status == 204, await r.text()
    code = totp.code_at(secret, totp.current_step() + 1)
    r = await browser.request("POST", "/v1/session/elevate", {"code": code})
    assert r.status == 200, await r.text()
    return browser


@pytest.fixture
async def dsl(client, school):
    return await elevate(await signed_in(client, school, "S04"))


async def export_done(browser, drain, path, body):
    """Ask, drain the worker, and return the finished export's JSON."""
    r = await browser.request("POST", path, body)
    assert r.status == 202, await r.text()
    queued = await r.json()
    assert queued["state"] == "queued" and queued["progress"] == 0
    await drain()
    r = await browser.request("GET", f"/v1/exports/{queued['id']}")
    assert r.status == 200
    done = await r.json()
    assert done["state"] == "done", done
    return done


async def download(browser, done):
    r = await browser.request("GET", done["file"])
    assert r.status == 200, await r.text()
    return r, await r.read()


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]
