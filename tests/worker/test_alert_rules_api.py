"""The alert-rules admin API on the real ingest app, and that the worker obeys what it stores."""

import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from services.worker.recipients import resolve
from tests.conftest import ADMIN_TOKEN
from tests.support.world import alerted, record_incident

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def client(settings):
    async with TestClient(TestServer(create_app(settings))) as c:
        yield c


def path(school_id):
    return f"/v1/schools/{school_id}/alert-rules"


def shape(rules):
    return sorted(
        (r["event_kind"], r["category"] or "", tuple(sorted(r["roles"])), r["class_teachers"])
        for r in rules
    )


async def test_get_lists_the_default_rules(client, school):
    resp = await client.get(path(school.id), headers=ADMIN)
    assert resp.status == 200
    rules = await resp.json()
    assert all(uuid.UUID(r["id"]) for r in rules)
    assert shape(rules) == [
        ("action", "", ("head", "pastoral", "slt"), False),
        ("incident", "", ("head", "pastoral", "slt"), True),
        ("incident", "safeguarding", ("deputy_dsl", "dsl", "head", "pastoral", "slt"), False),
        ("incident", "slt", ("deputy_dsl", "dsl", "head", "pastoral", "slt"), False),
    ]


async def test_put_replaces_the_rules_and_the_worker_uses_them(client, school, pg):
    current = await (await client.get(path(school.id), headers=ADMIN)).json()
    new = current + [
        {
            "event_kind": "incident",
            "category": "sen",
            "roles": ["teaching_assistant"],
            "class_teachers": False,
        }
    ]
    resp = await client.put(path(school.id), json=new, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    stored = await resp.json()
    assert shape(stored) == shape(new)
    assert stored == await (await client.get(path(school.id), headers=ADMIN)).json()
    async with pg.acquire() as conn:
        event = (await record_incident(conn, school, "S09", "P0002", ["sen/hln"])).event
        async with conn.transaction():
            await resolve(conn, event)
        assert await alerted(conn, event) == {"S01", "S02", "S03", "S07", "S08"}


async def test_put_accepts_a_wrapped_list_and_can_empty_the_rules(client, school):
    resp = await client.put(path(school.id), json={"rules": []}, headers=ADMIN)
    assert resp.status == 200 and await resp.json() == []


GOOD = {"event_kind": "incident", "category": None, "roles": ["slt"], "class_teachers": True}


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"event_kind": "escalation"}, "rules[2].event_kind"),
        ({"event_kind": None}, "rules[2].event_kind"),
        ({"roles": ["slt", "janitor"]}, "rules[2].roles[1]"),
        ({"roles": ["slt", "slt"]}, "rules[2].roles[1]"),
        ({"roles": [["slt"]]}, "rules[2].roles[0]"),
        ({"roles": "slt"}, "rules[2].roles"),
        ({"category": "no-such-category"}, "rules[2].category"),
        ({"category": 7}, "rules[2].category"),
        ({"class_teachers": "yes"}, "rules[2].class_teachers"),
        ({"colour": "red"}, "rules[2].colour"),
    ],
)
async def test_put_refuses_bad_rules_naming_the_field(client, school, bad, field):
    before = await (await client.get(path(school.id), headers=ADMIN)).json()
    rules = [GOOD, GOOD, {**GOOD, **bad}]
    resp = await client.put(path(school.id), json=rules, headers=ADMIN)
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == field
    assert await (await client.get(path(school.id), headers=ADMIN)).json() == before


async def test_put_refuses_a_non_list(client, school):
    resp = await client.put(path(school.id), json={"event_kind": "incident"}, headers=ADMIN)
    assert resp.status == 422


async def test_admin_token_required_and_unknown_school_is_404(client, school):
    assert (await client.get(path(school.id))).status == 401
    wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
    assert (await client.put(path(school.id), json=[], headers=wrong)).status == 401
    assert (await client.get(path(uuid.uuid4()), headers=ADMIN)).status == 404
    assert (await client.put(path(uuid.uuid4()), json=[], headers=ADMIN)).status == 404
    assert (await client.get(path("not-a-uuid"), headers=ADMIN)).status == 404
