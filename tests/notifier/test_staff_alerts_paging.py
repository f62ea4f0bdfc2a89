"""GET /v1/staff/{id}/alerts a page at a time: `page` and `per_page` (50 by default, at most
200), the answer still a JSON array, the next page in a `Link: <...>; rel="next"` header, so no
request reads a person's whole history (a head teacher's alerts grow by hundreds a term)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.notifier.main import create_app
from services.notifier.status_api import STAFF_PAGE_DEFAULT, STAFF_PAGE_MAX
from shared.config import Settings
from shared.web import PG
from tests.notifier.test_status import staff_app
from tests.support.world import School, record_incident, resolve_alerts

MANY = STAFF_PAGE_MAX + 5  # the head (S01, SLT) is alerted about every incident


@pytest.fixture
async def client(settings: Settings, pg: asyncpg.Pool) -> AsyncIterator[TestClient]:
    app = create_app(settings)
    app[PG] = pg
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
async def heads_alerts(pg: asyncpg.Pool, school: School) -> list[str]:
    """MANY alerts for S01, a few of them read; their ids in the list's order."""
    async with pg.acquire() as conn:
        for _ in range(MANY):
            await resolve_alerts(conn, (await record_incident(conn, school)).event)
        await conn.execute(
            """UPDATE alerts SET read_at = now() WHERE id IN (
                   SELECT a.id FROM alerts a JOIN staff s ON s.id = a.recipient_id
                   WHERE s.external_id = 'S01' ORDER BY a.queued_at LIMIT 3)"""
        )
        rows = await conn.fetch(
            """SELECT a.id FROM alerts a JOIN staff s ON s.id = a.recipient_id
               WHERE s.external_id = 'S01' AND s.school_id = $1
               ORDER BY a.read_at IS NOT NULL, a.queued_at DESC, a.id""",
            school.id,
        )
    assert len(rows) == MANY
    return [str(r["id"]) for r in rows]


def links(header: str | None) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header or "")}


async def test_pages_follow_the_link_header_to_every_alert_once(
    client: TestClient, pg: asyncpg.Pool, school: School, heads_alerts: list[str]
) -> None:
    app = await staff_app(pg, school)
    url: str | None = "/v1/staff/S01/alerts"
    seen: list[str] = []
    sizes = []
    while url:
        r = await client.get(url, headers=app)
        assert r.status == 200
        body = await r.json()
        assert isinstance(body, list)  # the contract: still an array
        sizes.append(len(body))
        seen += [a["id"] for a in body]
        url = links(r.headers.get("Link")).get("next")
        if url:
            assert url.startswith("/v1/staff/S01/alerts?") and "per_page=50" in url
    assert sizes == [50, 50, 50, 50, MANY - 200]
    assert seen == heads_alerts  # unread first, then newest, none twice, none left out
    # The last page points back, not on.
    assert set(links(r.headers.get("Link"))) == {"prev"}


async def test_per_page_is_capped_at_the_maximum(
    client: TestClient, pg: asyncpg.Pool, school: School, heads_alerts: list[str]
) -> None:
    app = await staff_app(pg, school)
    r = await client.get("/v1/staff/S01/alerts?per_page=100000", headers=app)
    assert r.status == 200
    assert [a["id"] for a in await r.json()] == heads_alerts[:STAFF_PAGE_MAX]
    assert links(r.headers["Link"])["next"].endswith(f"page=2&per_page={STAFF_PAGE_MAX}")
    r = await client.get("/v1/staff/S01/alerts?page=2&per_page=200", headers=app)
    assert [a["id"] for a in await r.json()] == heads_alerts[STAFF_PAGE_MAX:]
    assert "next" not in links(r.headers.get("Link"))
    r = await client.get("/v1/staff/S01/alerts?page=2&per_page=7", headers=app)
    assert [a["id"] for a in await r.json()] == heads_alerts[7:14]
    r = await client.get("/v1/staff/S01/alerts?page=99", headers=app)
    assert r.status == 200 and await r.json() == []


async def test_default_page_and_a_short_list_have_no_next(
    client: TestClient, pg: asyncpg.Pool, school: School
) -> None:
    app = await staff_app(pg, school)
    async with pg.acquire() as conn:
        await resolve_alerts(conn, (await record_incident(conn, school)).event)
    r = await client.get("/v1/staff/S01/alerts", headers=app)
    assert r.status == 200 and len(await r.json()) == 1
    assert "Link" not in r.headers
    assert STAFF_PAGE_DEFAULT == 50


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=9999999999", "page"),
        ("per_page=0", "per_page"),
        ("per_page=%D9%A1", "per_page"),  # an Arabic-Indic digit: isdigit(), not a number here
    ],
)
async def test_bad_paging_values_are_refused_naming_the_field(
    client: TestClient, pg: asyncpg.Pool, school: School, query: str, field: str
) -> None:
    app = await staff_app(pg, school)
    r = await client.get(f"/v1/staff/S01/alerts?{query}", headers=app)
    assert r.status == 422
    assert r.content_type == "application/problem+json"
    assert (await r.json())["field"] == field


async def test_the_link_never_echoes_the_host_header(
    client: TestClient, pg: asyncpg.Pool, school: School, heads_alerts: list[str]
) -> None:
    # An absolute link built from Host would let a forged Host send a client elsewhere.
    app = await staff_app(pg, school)
    r = await client.get("/v1/staff/S01/alerts", headers={**app, "Host": "evil.example"})
    assert r.status == 200
    assert "evil.example" not in r.headers["Link"]
    assert links(r.headers["Link"])["next"] == "/v1/staff/S01/alerts?page=2&per_page=50"
