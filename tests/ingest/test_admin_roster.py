"""Admin endpoints and the roster import: auth, idempotent upsert, leavers kept inactive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.conftest import ADMIN, incident
from tests.support.roster import roster
from tests.support.world import seed_school


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"}])
async def test_admin_endpoints_need_the_admin_token(client, headers, school):
    for method, path, body in (
        ("POST", "/v1/schools", {"name": "X"}),
        ("POST", f"/v1/schools/{school.id}/api-keys", {"name": "x"}),
        ("PUT", f"/v1/schools/{school.id}/roster", roster()),
    ):
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status == 401, path
        assert r.content_type == "application/problem+json"
    r = await client.post("/v1/schools", json={"name": "X"}, headers=school.headers)
    assert r.status == 401  # a school's API key is not the admin token


async def test_api_key_and_roster_for_unknown_school_are_404(client):
    missing = "00000000-0000-0000-0000-000000000000"
    r = await client.post(f"/v1/schools/{missing}/api-keys", json={"name": "x"}, headers=ADMIN)
    assert r.status == 404
    r = await client.put(f"/v1/schools/{missing}/roster", json=roster(), headers=ADMIN)
    assert r.status == 404


async def test_api_key_is_shown_once_and_stored_hashed(client, pg):
    r = await client.post("/v1/schools", json={"name": "Keyed"}, headers=ADMIN)
    school_id = (await r.json())["id"]
    r = await client.post(f"/v1/schools/{school_id}/api-keys", json={"name": "mis"}, headers=ADMIN)
    assert r.status == 201
    body = await r.json()
    assert body["name"] == "mis" and body["key"].startswith("bk_")
    stored = await pg.fetchval("SELECT key_hash FROM api_keys")
    assert body["key"].encode() not in bytes(stored)


async def test_roster_import_twice_changes_nothing(client, pg):
    school = await seed_school(pg, "Riverside Primary", with_roster=False)
    url = f"/v1/schools/{school.id}/roster"
    r = await client.put(url, json=roster(), headers=ADMIN)
    assert r.status == 200
    assert await r.json() == {"staff": 9, "pupils": 3, "classes": 2}
    snapshot = await _snapshot(pg)
    r = await client.put(url, json=roster(), headers=ADMIN)
    assert r.status == 200
    assert await _snapshot(pg) == snapshot


async def _snapshot(pg) -> dict[str, list]:
    out = {}
    for table in ("staff", "pupils", "classes"):
        out[table] = [
            tuple(r)
            for r in await pg.fetch(
                f"SELECT external_id, active, updated_at, xmin::text FROM {table} ORDER BY 1"
            )
        ]
    out["class_teachers"] = [
        tuple(r)
        for r in await pg.fetch(
            "SELECT class_id, staff_id, xmin::text FROM class_teachers ORDER BY 1, 2"
        )
    ]
    out["pupil_classes"] = [
        tuple(r)
        for r in await pg.fetch(
            "SELECT pupil_id, class_id, xmin::text FROM pupil_classes ORDER BY 1, 2"
        )
    ]
    return out


async def test_leavers_are_marked_inactive_and_changes_applied(client, school, pg):
    data = roster()
    data["pupils"] = [p for p in data["pupils"] if p["id"] != "P0003"]
    data["pupils"][0]["classes"] = ["C4"]
    data["staff"] = [s for s in data["staff"] if s["id"] != "S07"]
    data["classes"][1]["teachers"] = ["S04"]
    data["staff"][0]["roles"] = ["head"]
    r = await client.put(f"/v1/schools/{school.id}/roster", json=data, headers=ADMIN)
    assert r.status == 200, await r.text()
    assert await pg.fetchval("SELECT active FROM pupils WHERE external_id = 'P0003'") is False
    assert await pg.fetchval("SELECT active FROM staff WHERE external_id = 'S07'") is False
    assert await pg.fetchval("SELECT roles FROM staff WHERE external_id = 'S01'") == ["head"]
    classes = await pg.fetch(
        """SELECT c.external_id FROM pupil_classes pc JOIN classes c ON c.id = pc.class_id
           JOIN pupils p ON p.id = pc.pupil_id WHERE p.external_id = 'P0001'"""
    )
    assert [r["external_id"] for r in classes] == ["C4"]
    teachers = await pg.fetch(
        """SELECT s.external_id FROM class_teachers ct JOIN staff s ON s.id = ct.staff_id
           JOIN classes c ON c.id = ct.class_id WHERE c.external_id = 'C4'"""
    )
    assert [r["external_id"] for r in teachers] == ["S04"]
    # A leaver cannot be named on new records; coming back makes them active again.
    r = await client.post("/v1/incidents", json=incident(pupil="P0003"), headers=school.headers)
    assert r.status == 422
    r = await client.put(f"/v1/schools/{school.id}/roster", json=roster(), headers=ADMIN)
    assert await pg.fetchval("SELECT active FROM pupils WHERE external_id = 'P0003'") is True


def _broken(path: tuple, value) -> dict:
    data = roster()
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_broken(("pupils", 2, "date_of_birth"), "2017-13-40"), "pupils[2].date_of_birth"),
        (_broken(("pupils", 0, "classes"), ["C9"]), "pupils[0].classes[0]"),
        (_broken(("staff", 1, "roles"), ["wizard"]), "staff[1].roles[0]"),
        (_broken(("staff", 1, "email"), "not-an-email"), "staff[1].email"),
        (_broken(("staff", 1, "id"), "S01"), "staff[1].id"),
        (_broken(("classes", 0, "teachers"), ["S42"]), "classes[0].teachers[0]"),
        (_broken(("pupils", 1, "first_name"), ""), "pupils[1].first_name"),
        (_broken(("pupils",), "everyone"), "pupils"),
    ],
)
async def test_bad_roster_names_the_field_and_changes_nothing(client, school, pg, data, field):
    before = await _snapshot(pg)
    r = await client.put(f"/v1/schools/{school.id}/roster", json=data, headers=ADMIN)
    assert r.status == 422
    assert (await r.json())["field"] == field
    assert await _snapshot(pg) == before


def test_beacon_admin_commands_work_as_processes(env, tmp_path: Path):
    beacon = str(Path(sys.executable).with_name("beacon"))
    run_env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": env["DATABASE_URL"]}

    def run(*args: str) -> dict:
        done = subprocess.run(
            [beacon, "admin", *args],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    school_id = run("create-school", "Process Primary")["id"]
    assert run("api-key", school_id, "mis")["key"].startswith("bk_")
    file = tmp_path / "roster.json"
    file.write_text(json.dumps(roster()))
    assert run("import", school_id, str(file)) == {"staff": 9, "pupils": 3, "classes": 2}
    assert run("import", school_id, str(file)) == {"staff": 9, "pupils": 3, "classes": 2}
