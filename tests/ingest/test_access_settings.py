"""A school's access settings through the admin API: validated, audited, and obeyed at login."""

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ingest.main import create_app
from shared import audit
from tests.conftest import ADMIN_TOKEN
from tests.support.world import seed_school

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def client(settings):
    async with TestClient(TestServer(create_app(settings))) as c:
        yield c


@pytest.fixture
async def school(pg):
    return await seed_school(pg)


def path(school_id):
    return f"/v1/schools/{school_id}/access-settings"


async def test_defaults_are_the_schools_model(client, school):
    response = await client.get(path(school.id), headers=ADMIN)
    assert response.status == 200
    assert await response.json() == {
        "password_policy": "school",
        "password_min_length": 8,
        "totp_at_login": False,
        "session_idle_seconds": None,
    }


async def test_a_change_is_stored_partially_and_audited_with_before_and_after(client, school, pg):
    response = await client.put(
        path(school.id), headers=ADMIN, json={"totp_at_login": True, "password_policy": "ncsc"}
    )
    assert response.status == 200
    expected = {
        "password_policy": "ncsc",
        "password_min_length": 8,
        "totp_at_login": True,
        "session_idle_seconds": None,
    }
    assert await response.json() == expected
    assert await (await client.get(path(school.id), headers=ADMIN)).json() == expected
    async with pg.acquire() as conn:
        entry = await conn.fetchrow(
            "SELECT action, detail FROM audit_log WHERE school_id = $1 "
            "AND action = 'settings.access.change'",
            school.id,
        )
        assert entry is not None
        assert await audit.verify(conn, school.id) == []
    detail = json.loads(entry["detail"])
    assert detail["before"]["totp_at_login"] is False and detail["after"]["totp_at_login"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password_policy": "none"}, "password_policy"),
        ({"password_min_length": 4}, "password_min_length"),
        ({"password_min_length": True}, "password_min_length"),
        ({"totp_at_login": "yes"}, "totp_at_login"),
        ({"session_idle_seconds": 5}, "session_idle_seconds"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_values_are_refused_naming_the_field_and_change_nothing(
    client, school, body, field
):
    response = await client.put(path(school.id), headers=ADMIN, json=body)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert (await response.json())["field"] == field
    assert (await (await client.get(path(school.id), headers=ADMIN)).json())[
        "totp_at_login"
    ] is False


async def test_needs_the_admin_token_and_a_real_school(client, school):
    assert (await client.get(path(school.id))).status == 401
    assert (await client.put(path(school.id), json={})).status == 401
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(path(missing), headers=ADMIN)).status == 404
