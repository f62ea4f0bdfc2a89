"""SQL injection strings (and what PostgreSQL cannot store) in every text field: never a 5xx,
free text is stored verbatim, identifiers are simply unknown, and no extra rows appear."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tests.ingest.conftest import ADMIN, incident
from tests.security.conftest import EMAILS, World
from tests.staff.client import Browser
from tests.support.roster import roster

INJECTIONS = [
    "'; DROP TABLE incidents; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM staff WHERE '1'='1",
    "Robert'); DROP TABLE pupils;--",
    "$1 $2 ::text",
    "'; SELECT pg_sleep(10); --",
    "%' OR 1=1 --",
    "\\'; TRUNCATE alerts; --",
    "*/ UNION SELECT password_hash FROM staff_credentials /*",
]
# Not injection, but what makes a careless driver call fail: must be a 4xx, never a 500.
UNSTORABLE = ["nul\x00byte", "lone \ud800 surrogate"]
TABLES = (
    "incidents",
    "actions",
    "staff",
    "pupils",
    "classes",
    "alerts",
    "api_keys",
    "staff_credentials",
    "incident_agencies",
    "body_map_marks",
)


async def _each_payload(check: Callable[..., Awaitable[None]], *args: Any) -> None:
    for payload in INJECTIONS + UNSTORABLE:
        await check(*args, payload)


async def _post_json(client: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """JSON text even for a lone surrogate (json.dumps escapes it; aiohttp's json= would not
    encode it at all)."""
    return await client.post(
        path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )


async def _counts(world: World) -> dict[str, int]:
    return {t: await world.count(t) for t in TABLES}


def _incident_variants(s: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("description", incident(description=s)),
        ("agencies", incident(agencies=[s])),
        ("body_map", incident(body_map=[{"view": "front", "region": s, "note": s}])),
        ("author", incident(author=s)),
        ("pupil", incident(pupil=s)),
        ("categories", incident(categories=[s])),
        ("linked_pupils", incident(linked_pupils=[s])),
        ("alert_staff", incident(alert_staff=[s])),
        ("occurred_at", incident(occurred_at=s)),
    ]


async def test_incident_and_action_fields(world: World) -> None:
    await _each_payload(_incident_and_action_fields, world)


async def _incident_and_action_fields(world: World, payload: str) -> None:
    home = world.home
    before = await _counts(world)
    created = 0
    for field, body in _incident_variants(payload):
        r = await _post_json(world.ingest, "/v1/incidents", body, home.headers)
        assert r.status < 500, (field, r.status, await r.text())
        if r.status == 201:
            created += 1
            stored = await (
                await world.ingest.get(r.headers["Location"], headers=home.headers)
            ).json()
            assert field in ("description", "agencies", "body_map"), field
            assert payload in (
                stored["description"],
                *stored["agencies"],
                *(m["region"] for m in stored["body_map"]),
            )
    ordinary = home.incidents["ordinary"]
    for body in (
        {"author": "S06", "description": payload},
        {"author": payload, "description": "x"},
        {"author": "S06", "description": "x", "alert_staff": [payload]},
    ):
        r = await _post_json(world.ingest, f"/v1/incidents/{ordinary}/actions", body, home.headers)
        assert r.status < 500, (body, r.status)
        if r.status == 201:
            assert (await r.json())["description"] == payload
    after = await _counts(world)
    stored_ok = payload not in UNSTORABLE
    assert after["incidents"] == before["incidents"] + created
    assert created == (3 if stored_ok else 0)
    assert after["actions"] == before["actions"] + (1 if stored_ok else 0)
    assert {t: after[t] for t in ("staff", "pupils", "classes", "api_keys", "alerts")} == {
        t: before[t] for t in ("staff", "pupils", "classes", "api_keys", "alerts")
    }


async def test_roster_fields(world: World) -> None:
    await _each_payload(_roster_fields, world)


async def _roster_fields(world: World, payload: str) -> None:
    home = world.home
    before = await _counts(world)
    paths = [
        ("staff", 0, "id"),
        ("staff", 0, "email"),
        ("staff", 0, "first_name"),
        ("staff", 0, "last_name"),
        ("staff", 0, "initials"),
        ("classes", 0, "id"),
        ("classes", 0, "name"),
        ("pupils", 0, "id"),
        ("pupils", 0, "first_name"),
        ("pupils", 0, "last_name"),
    ]
    for section, index, key in paths:
        data = roster()
        data[section][index][key] = payload
        r = await world.ingest.put(
            f"/v1/schools/{home.id}/roster",
            data=json.dumps(data),
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert r.status < 500, (section, key, r.status, await r.text())
        if r.status == 200 and key in ("first_name", "last_name", "name"):
            table = {"staff": "staff", "classes": "classes", "pupils": "pupils"}[section]
            assert (
                await world.pg.fetchval(
                    f"SELECT count(*) FROM {table} WHERE school_id = $1 AND "  # noqa: S608
                    f"{key} = $2",
                    home.id,
                    payload,
                )
                == 1
            )
    after = await _counts(world)
    # A changed id adds a row (and retires the old one): at most one per id field tried.
    for table, most in (("staff", 1), ("classes", 1), ("pupils", 1)):
        assert before[table] <= after[table] <= before[table] + most, table
    for table in ("incidents", "actions", "alerts", "api_keys", "staff_credentials"):
        assert after[table] == before[table], table


async def test_login_and_reset_fields(world: World) -> None:
    await _each_payload(_login_and_reset_fields, world)


async def _login_and_reset_fields(world: World, payload: str) -> None:
    before = await _counts(world)
    browser = Browser(world.ingest)
    for body in (
        {"email": payload, "password": "x"},
        {"email": EMAILS["S06"], "password": payload},
        {"email": payload + EMAILS["S06"], "password": world.home.password},
        {"email": EMAILS["S06"], "password": world.home.password, "code": payload},
    ):
        r = await browser.request("POST", "/v1/session", body)
        # The last is the right password: the code is ignored where TOTP is not required.
        assert r.status in (401, 422, 429) or r.status == 201 and "code" in body, (
            body,
            r.status,
            await r.text(),
        )
    r = await browser.request("POST", "/v1/password-reset", {"email": payload})
    assert r.status in (202, 422), r.status
    token = quote(payload.encode("utf-8", "surrogatepass"), safe="")
    r = await browser.request(
        "POST", f"/v1/password-reset/{token}", {"password": "Kettle-Drum-93!x"}
    )
    assert r.status in (404, 422), r.status
    assert await _counts(world) == before


async def test_path_and_status_fields(world: World) -> None:
    r = await world.ingest.post(
        f"/v1/schools/{world.home.id}/api-keys",
        json={"name": "staff app", "scopes": ["alerts:staff"]},
        headers=ADMIN,
    )
    staff_app = {"Authorization": f"Bearer {(await r.json())['key']}"}
    await _each_payload(_path_and_status_fields, world, await world.browser("S06"), staff_app)


async def _path_and_status_fields(
    world: World, teacher: Browser, staff_app: dict[str, str], payload: str
) -> None:
    home = world.home
    segment = quote(payload.encode("utf-8", "surrogatepass"), safe="")
    for path in (f"/v1/pupils/{segment}/chronology", f"/v1/incidents/{segment}"):
        r = await world.ingest.get(path, headers=home.headers)
        assert r.status == (403 if "chronology" in path else 404), (path, r.status)
        assert (await teacher.request("GET", path)).status == 404
    r = await world.notifier.get(f"/v1/staff/{segment}/alerts", headers=staff_app)
    assert r.status == 404, r.status
    alert = home.alerts[("ordinary", "S08")]
    r = await _post_json(world.notifier, f"/v1/alerts/{alert}/read", {"staff": payload}, staff_app)
    assert r.status in (404, 422), r.status
    r = await teacher.request("DELETE", f"/v1/staff/{segment}/totp/{alert}")
    assert r.status in (403, 404), r.status
    assert await world.pg.fetchval("SELECT count(*) FROM alerts WHERE read_at IS NOT NULL") == 0
