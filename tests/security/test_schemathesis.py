"""Schemathesis against /v1/openapi.json of the real ingest app, served on a free port.

Every documented operation gets generated requests (a fixed number each, derandomised so a CI
run is repeatable), authenticated as its document says: the admin token, a school's API key,
or nothing. Every response must be no 5xx and conform to the document (status code, content
type, headers, body schema).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import schemathesis
from aiohttp import ClientSession, web
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.ingest.main import create_app
from shared.auth import accounts
from shared.auth.passwords import hash_password
from shared.auth.sessions import COOKIE, CSRF_HEADER
from shared.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.ingest.conftest import incident
from tests.support.ports import free_port
from tests.support.roster import roster

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "Kettle-Drum-93!"


@pytest.fixture
async def live(security_settings: Settings) -> AsyncIterator[str]:
    """`beacon ingest`'s app (create_app) listening on a real port."""
    runner = web.AppRunner(create_app(security_settings), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _seed(base: str) -> dict[str, str]:
    """A school with the roster, an API key and one incident; real ids for path parameters."""
    async with ClientSession(base) as http:
        r = await http.post("/v1/schools", json={"name": "Riverside Primary"}, headers=ADMIN)
        school = (await r.json())["id"]
        r = await http.post(f"/v1/schools/{school}/api-keys", json={"name": "mis"}, headers=ADMIN)
        key = (await r.json())["key"]
        r = await http.put(f"/v1/schools/{school}/roster", json=roster(), headers=ADMIN)
        assert r.status == 200
        api = {"Authorization": f"Bearer {key}"}
        r = await http.post("/v1/incidents", json=incident(), headers=api)
        assert r.status == 201
        return {
            "key": key,
            "school_id": school,
            "incident_id": (await r.json())["id"],
            "pupil_id": "P0001",
            "staff": "S06",
        }


def _takes_session(operation: Any) -> bool:
    return any("session" in s for s in operation.definition.raw.get("security", []))


def _headers(operation: Any, known: dict[str, str]) -> dict[str, str]:
    schemes = {name for s in operation.definition.raw.get("security", []) for name in s}
    if "adminToken" in schemes:
        return ADMIN
    if "apiKey" in schemes:
        return {"Authorization": f"Bearer {known['key']}"}
    return {}


def _fuzz(
    schema: Any,
    base: str,
    known: dict[str, str],
    statuses: dict[str, list[int]],
    session: dict[str, str] | None = None,
) -> dict[str, str]:
    """Runs in a thread (schemathesis calls are blocking) while the event loop serves the app.
    Returns {operation: first failure}; `statuses` collects what each operation answered.
    With `session` (cookie and CSRF headers) only the operations a session may call run."""
    failures: dict[str, str] = {}
    # Admin operations last: a fuzzed roster import retires the staff the examples name.
    operations = sorted(
        (r.ok() for r in schema.get_all_operations()), key=lambda op: _headers(op, known) == ADMIN
    )
    for operation in operations:
        if session is not None and (
            not _takes_session(operation) or operation.label == "DELETE /v1/session"
        ):
            continue
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in known.items() if k in names}
        seen = statuses.setdefault(operation.label, [])
        headers = session if session is not None else _headers(operation, known)
        test = given(case=operation.as_strategy(path_parameters=fixed or None))(
            _test_for(operation, base, headers, seen, signed_in=session is not None)
        )
        for body in _examples(operation):  # the document's own example must work, too
            test = example(
                case=operation.Case(path_parameters=fixed, body=body, media_type="application/json")
            )(test)
        try:
            test()
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - collect them all
            failures[operation.label] = f"{type(e).__name__}: {e}"[:2000]
    return failures


def _examples(operation: Any) -> list[Any]:
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    media = content.get("application/json", {})
    return [media["example"]] if "example" in media else []


def _test_for(
    operation: Any, base: str, headers: dict[str, str], seen: list[int], signed_in: bool
) -> Callable[[Any], None]:
    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def test(case: Any) -> None:
        if signed_in:  # a generated Authorization header would make this an API-key call
            case.headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
        response = case.call(base_url=base, headers=headers, timeout=10)
        seen.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    return test


async def test_every_operation_answers_as_documented(live: str) -> None:
    known = await _seed(live)
    async with ClientSession(live) as http:
        document = await (await http.get("/v1/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    statuses: dict[str, list[int]] = {}
    failures = await asyncio.to_thread(_fuzz, schema, live, known, statuses)
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    # The run really exercised the API: every operation was called, and successes were among
    # the answers (not only 4xx from the front door).
    assert len(statuses) == sum(len(ops) for ops in document["paths"].values())
    assert all(statuses.values()), [k for k, v in statuses.items() if not v]
    assert sum(1 for v in statuses.values() if any(s < 300 for s in v)) >= 15
    assert 201 in statuses["POST /v1/incidents"]


async def test_every_session_operation_answers_as_documented(live: str, pg) -> None:
    """The same, signed in as a teacher: a session's own paths (and its 403s) conform too."""
    known = await _seed(live)
    async with ClientSession(live) as http:
        document = await (await http.get("/v1/openapi.json")).json()
        session = await _sign_in(http, pg, "S06")
    schema = schemathesis.openapi.from_dict(document)
    statuses: dict[str, list[int]] = {}
    failures = await asyncio.to_thread(_fuzz, schema, live, known, statuses, session)
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert 201 in statuses["POST /v1/me/totp"] and 200 in statuses["GET /v1/me/totp"]
    assert 201 in statuses["POST /v1/incidents"]


async def _sign_in(http: ClientSession, pg: Any, staff: str) -> dict[str, str]:
    row = await pg.fetchrow("SELECT id, school_id, email FROM staff WHERE external_id = $1", staff)
    async with pg.acquire() as conn:
        await accounts.set_password_hash(conn, row["school_id"], row["id"], hash_password(PASSWORD))
    r = await http.post("/v1/session", json={"email": row["email"], "password": PASSWORD})
    assert r.status == 201
    cookie = r.cookies[COOKIE].value
    return {"Cookie": f"{COOKIE}={cookie}", CSRF_HEADER: (await r.json())["csrf_token"]}
