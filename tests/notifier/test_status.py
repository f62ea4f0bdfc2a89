"""The status contract on the notifier's port: shape, ordering, marking read, and scoping to
the API key's school."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.notifier.main import create_app
from shared.auth.api_keys import issue_api_key
from shared.config import Settings
from shared.web import PG
from tests.support.world import (
    School,
    record_action,
    record_incident,
    resolve_alerts,
    seed_school,
    settle_alert,
)

FIELDS = {
    "id",
    "recipient",
    "event",
    "state",
    "queued_at",
    "sent_at",
    "read_at",
    "actioned_at",
    "error",
}


@pytest.fixture
async def client(settings: Settings, pg: asyncpg.Pool) -> AsyncIterator[TestClient]:
    app = create_app(settings)
    app[PG] = pg
    async with TestClient(TestServer(app)) as c:
        yield c


def auth(school: School) -> dict[str, str]:
    """The school's key (the MIS's): it posted the incidents, so it reads their alerts."""
    return school.headers


async def staff_app(pg: asyncpg.Pool, school: School) -> dict[str, str]:
    """A staff app's key: it lists staff members' alerts and marks them read for them
    (`alerts:staff`, never a default), and reads the alerts of incidents it posted."""
    async with pg.acquire() as conn:
        _, key = await issue_api_key(conn, school.id, "staff app", ("alerts:read", "alerts:staff"))
    return {"Authorization": f"Bearer {key}"}


async def two_events(
    pg: asyncpg.Pool, school: School
) -> tuple[uuid.UUID, dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """An incident by the admin about P0002 (alerting S01-S03 and P0002's teacher S07), then
    an action by S03 (alerting S01 and S02); S01's first alert sent, S07's failed."""
    async with pg.acquire() as conn:
        incident = await record_incident(conn, school, "S09", "P0002")
        first = await resolve_alerts(conn, incident.event)
        await conn.execute("UPDATE alerts SET queued_at = queued_at - interval '1 minute'")
        action = await record_action(conn, school, incident.id, "S03")
        second = await resolve_alerts(conn, action.event)
        await settle_alert(conn, first["S01"], "sent")
        await settle_alert(conn, first["S07"], "failed", "550 5.1.1 no such user")
    return incident.id, first, second


async def test_incident_alerts_list_every_recipient_with_state_and_times(
    client: TestClient, pg: asyncpg.Pool, school: School
) -> None:
    incident_id, first, second = await two_events(pg, school)
    r = await client.get(f"/v1/incidents/{incident_id}/alerts", headers=auth(school))
    assert r.status == 200
    body = await r.json()
    assert all(set(a) == FIELDS for a in body)
    assert [(a["recipient"], a["event"]) for a in body] == [
        ("S01", "incident"),
        ("S02", "incident"),
        ("S03", "incident"),
        ("S07", "incident"),
        ("S01", "action"),
        ("S02", "action"),
    ]
    by_id = {a["id"]: a for a in body}
    sent = by_id[str(first["S01"])]
    assert sent["state"] == "sent" and sent["sent_at"] and sent["read_at"] is None
    failed = by_id[str(first["S07"])]
    assert failed["state"] == "failed" and failed["error"] == "550 5.1.1 no such user"
    assert by_id[str(second["S01"])]["state"] == "queued"


async def test_staff_alerts_come_unread_first_then_newest(
    client: TestClient, pg: asyncpg.Pool, school: School
) -> None:
    _, first, second = await two_events(pg, school)
    app = await staff_app(pg, school)
    # Read the newer one: the older unread alert must now come first.
    r = await client.post(f"/v1/alerts/{second['S01']}/read", json={"staff": "S01"}, headers=app)
    assert r.status == 200
    r = await client.get("/v1/staff/S01/alerts", headers=app)
    assert [a["id"] for a in await r.json()] == [str(first["S01"]), str(second["S01"])]


async def test_marking_read_is_idempotent_and_only_for_the_recipient(
    client: TestClient, pg: asyncpg.Pool, school: School
) -> None:
    _, first, _ = await two_events(pg, school)
    app = await staff_app(pg, school)
    url = f"/v1/alerts/{first['S03']}/read"
    r = await client.post(url, json={"staff": "S06"}, headers=app)
    assert r.status == 404
    assert r.content_type == "application/problem+json"

    r = await client.post(url, json={"staff": "S03"}, headers=app)
    read = await r.json()
    assert r.status == 200 and set(read) == FIELDS and read["read_at"]
    assert read["state"] == "queued"  # beside the delivery state, not instead of it
    again = await (await client.post(url, json={"staff": "S03"}, headers=app)).json()
    assert again["read_at"] == read["read_at"]


async def test_another_schools_key_sees_nothing(
    client: TestClient, pg: asyncpg.Pool, school: School
) -> None:
    incident_id, first, _ = await two_events(pg, school)
    async with pg.acquire() as conn:
        other = await seed_school(conn, "Birchwood Academy")
    others_app = await staff_app(pg, other)
    for method, url, body in [
        ("GET", f"/v1/incidents/{incident_id}/alerts", None),
        ("POST", f"/v1/alerts/{first['S01']}/read", {"staff": "S01"}),
    ]:
        r = await client.request(method, url, json=body, headers=others_app)
        assert r.status == 404, url
    r = await client.get("/v1/staff/S01/alerts", headers=others_app)
    assert await r.json() == []  # S01 of the other school: their own, empty list
    r = await client.get("/v1/staff/S99/alerts", headers=await staff_app(pg, school))
    assert r.status == 404
    assert await pg.fetchval("SELECT read_at FROM alerts WHERE id = $1", first["S01"]) is None


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", "/v1/incidents/not-a-uuid/alerts", None, 404),
        ("GET", f"/v1/incidents/{uuid.uuid4()}/alerts", None, 404),
        ("POST", "/v1/alerts/123/read", {"staff": "S01"}, 404),
        ("POST", f"/v1/alerts/{uuid.uuid4()}/read", {"staff": "S01"}, 404),
        ("POST", f"/v1/alerts/{uuid.uuid4()}/read", {}, 422),
        ("POST", f"/v1/alerts/{uuid.uuid4()}/read", {"staff": 7}, 422),
        ("POST", f"/v1/alerts/{uuid.uuid4()}/read", [1], 400),
    ],
)
async def test_bad_requests_get_problem_json_never_500(
    client: TestClient,
    pg: asyncpg.Pool,
    school: School,
    method: str,
    url: str,
    body: object,
    status: int,
) -> None:
    r = await client.request(method, url, json=body, headers=await staff_app(pg, school))
    assert r.status == status
    assert r.content_type == "application/problem+json"


async def test_no_key_or_a_wrong_key_is_401(client: TestClient, school: School) -> None:
    assert (await client.get("/v1/staff/S01/alerts")).status == 401
    r = await client.get("/v1/staff/S01/alerts", headers={"Authorization": "Bearer bk_nope"})
    assert r.status == 401


async def test_metrics_report_alerts_due_at_scrape(
    client: TestClient, pg: asyncpg.Pool, school: School
) -> None:
    await two_events(pg, school)
    text = await (await client.get("/metrics")).text()
    assert "beacon_alerts_due 4.0" in text  # S02, S03 incident + S01, S02 action are queued
    assert "beacon_emails_sent_total 0.0" in text
    assert "beacon_email_send_seconds_count 0.0" in text
