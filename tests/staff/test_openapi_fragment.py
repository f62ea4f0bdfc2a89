"""The staff OpenAPI fragment documents every staff route; its refs resolve."""

import re

from aiohttp import web

from services.ingest.staff import openapi, totp
from services.ingest.staff.routes import add_routes
from services.ingest.staff.state import StaffConfig
from tests.conftest import SECRET_KEY


def _template(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_staff_route_is_documented():
    app = web.Application()
    add_routes(app, StaffConfig(totp.derive_key(SECRET_KEY)))
    served = {
        (_template(r.resource.canonical), r.method)
        for r in app.router.routes()
        if r.method != "HEAD" and not r.resource.canonical.startswith("/static/")
    }
    documented = {(_template(p), m.upper()) for p, ops in openapi.paths().items() for m in ops}
    assert served - documented == set()
    assert documented - served == set()


def test_refs_resolve_and_errors_are_problems():
    text = str(openapi.paths()) + str(openapi.SCHEMAS)
    for ref in re.findall(r"#/components/schemas/(\w+)", text):
        assert ref in openapi.SCHEMAS or ref == "Problem", ref
    for path, ops in openapi.paths().items():
        for op in ops.values():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"], (path, status)
