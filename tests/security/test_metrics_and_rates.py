"""/metrics is for the scraper only, and every route that takes an API key charges the key's
rate bucket: ingest's /v1 routes (the chronology included) and the notifier's status API."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app as create_ingest
from services.notifier.main import create_app as create_notifier
from shared.auth.api_keys import issue_api_key
from shared.config import Settings
from tests.support.world import School, seed_school

TOKEN = "metrics-scraper-token-0123456789"
# One token of burst, refilled in ~1,000 s: the first request spends the key's allowance.
TRICKLE = 0.001
# Routes no API key can use at all: the admin token's, a person's own, and the public ones.
NOT_FOR_KEYS = {
    ("POST", "/v1/schools"),
    ("POST", "/v1/schools/{school_id}/api-keys"),
    ("GET", "/v1/schools/{school_id}/api-keys"),
    ("DELETE", "/v1/schools/{school_id}/api-keys/{key_id}"),
    ("PUT", "/v1/schools/{school_id}/roster"),
    ("GET", "/v1/schools/{school_id}/alert-rules"),
    ("PUT", "/v1/schools/{school_id}/alert-rules"),
    ("GET", "/v1/schools/{school_id}/access-settings"),
    ("PUT", "/v1/schools/{school_id}/access-settings"),
    ("POST", "/v1/password-reset"),
    ("POST", "/v1/password-reset/{token}"),
    ("POST", "/v1/session"),
    ("DELETE", "/v1/session"),
    ("POST", "/v1/session/elevate"),
    ("POST", "/v1/me/totp"),
    ("GET", "/v1/me/totp"),
    ("POST", "/v1/me/totp/confirm"),
    ("GET", "/v1/openapi.json"),
}


@pytest.fixture
async def school(pg: asyncpg.Pool) -> School:
    return await seed_school(pg, "Riverside Primary")


@pytest.fixture(params=["ingest", "notifier"])
def which(request: pytest.FixtureRequest) -> str:
    return request.param


async def serve(settings: Settings, which: str, **changes: object) -> TestClient:
    s = dataclasses.replace(settings, **changes)
    app = create_ingest(s) if which == "ingest" else create_notifier(s)
    return TestClient(TestServer(app))


async def test_without_a_token_metrics_answer_loopback_peers_only(settings, which):
    async with await serve(settings, which) as client:
        assert (await client.get("/metrics")).status == 200
        # Through a proxy, whatever its own address: the scraper must present the token.
        proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status == 404
        forwarded = await client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"})
        assert forwarded.status == 404


async def test_with_a_token_metrics_need_it(settings, which):
    async with await serve(settings, which, metrics_token=TOKEN) as client:
        assert (await client.get("/metrics")).status == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all-0123456789"}
        assert (await client.get("/metrics", headers=wrong)).status == 401
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status == 200
        assert "# HELP" in await right.text()
        # Health and readiness stay open: orchestrators probe them without credentials.
        assert (await client.get("/healthz")).status == 200


@pytest.fixture
async def notifier(settings: Settings) -> AsyncIterator[TestClient]:
    async with await serve(settings, "notifier", api_key_rate=TRICKLE) as client:
        yield client


@pytest.fixture
async def ingest(settings: Settings) -> AsyncIterator[TestClient]:
    async with await serve(settings, "ingest", api_key_rate=TRICKLE) as client:
        yield client


async def test_the_notifier_status_api_charges_the_keys_bucket(notifier, school, pg):
    async with pg.acquire() as conn:  # a staff app's key: staff members' alerts are its scope
        _, key = await issue_api_key(conn, school.id, "staff app", ("alerts:staff",))
    staff_app = {"Authorization": f"Bearer {key}"}
    first = await notifier.get("/v1/staff/S01/alerts", headers=staff_app)
    assert first.status == 200, await first.text()
    for path in (
        "/v1/staff/S01/alerts",
        f"/v1/incidents/{uuid.uuid4()}/alerts",
    ):
        over = await notifier.get(path, headers=staff_app)
        assert over.status == 429, (path, over.status)
        assert over.headers["Retry-After"].isdigit()
    marked = await notifier.post(
        f"/v1/alerts/{uuid.uuid4()}/read", json={"staff": "S01"}, headers=staff_app
    )
    assert marked.status == 429


async def test_the_chronology_charges_the_keys_bucket(ingest, school):
    path = "/v1/pupils/P0001/chronology"
    # No key reads a chronology (403), but asking still spends the key's allowance.
    assert (await ingest.get(path, headers=school.headers)).status == 403
    assert (await ingest.get(path, headers=school.headers)).status == 429


async def test_every_ingest_route_that_takes_a_key_charges_its_bucket(ingest, school):
    assert (await ingest.get("/v1/categories", headers=school.headers)).status == 200
    served = []
    for route in ingest.server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if not path.startswith("/v1/") or route.method == "HEAD":
            continue
        if (route.method, path) in NOT_FOR_KEYS:
            continue
        concrete = path.format_map(_Ids())
        r = await ingest.request(route.method, concrete, json={}, headers=school.headers)
        # 401: an administrators' route refusing a key outright (it takes none); anything
        # else but 429 means the key was served past its rate.
        if r.status not in (401, 429):
            served.append((route.method, path, r.status))
    assert not served, f"routes that served a key past its rate: {served}"


class _Ids(dict):
    def __missing__(self, name: str) -> str:
        return "P0001" if name == "pupil_id" else "S01" if name == "staff" else str(uuid.uuid4())
