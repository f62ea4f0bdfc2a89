"""The OpenAPI document describes every route the app serves (the staff routes merged in),
with problem+json errors."""

from __future__ import annotations

import re

from services.ingest.api import openapi
from services.ingest.api import openapi_staff as staff_openapi

# Static assets of the staff pages: files, not an API.
NOT_API = ("/static/",)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


async def test_document_covers_every_route(client):
    r = await client.get("/v1/openapi.json")
    assert r.status == 200
    doc = await r.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(_template(p), m.upper()) for p, ops in doc["paths"].items() for m in ops}
    served = {
        (_template(route.resource.canonical), route.method)
        for route in client.server.app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and not route.resource.canonical.startswith(NOT_API)
    }
    assert served - documented == set()
    refused = {
        (_template(p), m.upper())
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        if set(op["responses"]) == {"405"}
    }
    assert documented - refused - served == set()  # nothing documented that is not served
    assert ("/v1/session", "POST") in served and ("/login", "GET") in served


def test_staff_fragment_redefines_nothing_of_ingest():
    assert not set(staff_openapi.SCHEMAS) & set(openapi.SCHEMAS)
    assert not set(staff_openapi.paths()) & set(openapi._paths())


async def test_every_operation_documents_responses_and_refs_resolve(client):
    doc = await (await client.get("/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for ref in re.findall(r"#/components/schemas/(\w+)", str(doc)):
        assert ref in schemas, ref
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            for status, response in op["responses"].items():
                if int(status) >= 400 and path.startswith("/v1/"):
                    assert "application/problem+json" in response["content"], (path, status)
            for scheme in op.get("security", []):
                assert set(scheme) <= set(doc["components"]["securitySchemes"]), (path, method)
    incidents = doc["paths"]["/v1/incidents"]["post"]["responses"]
    assert {"200", "201", "400", "403", "413", "415", "422", "429", "503"} <= set(incidents)
    assert "405" in doc["paths"]["/v1/incidents/{incident_id}"]["delete"]["responses"]


async def test_record_endpoints_take_an_api_key_or_a_session(client):
    doc = await (await client.get("/v1/openapi.json")).json()
    for path, method in (
        ("/v1/incidents", "post"),
        ("/v1/incidents/{incident_id}", "get"),
        ("/v1/incidents/{incident_id}/actions", "post"),
        ("/v1/categories", "get"),
    ):
        assert {"apiKey", "session"} <= {
            k for s in doc["paths"][path][method]["security"] for k in s
        }, path
    # A chronology is staff only: no API key reads one, whatever its scopes.
    assert doc["paths"]["/v1/pupils/{pupil_id}/chronology"]["get"]["security"] == [{"session": []}]
    assert doc["paths"]["/v1/schools"]["post"]["security"] == [{"adminToken": []}]
