"""The staff OpenAPI fragment's refs resolve and its errors are problems (that every route is
documented is tests/ingest/test_openapi.py's check, on the whole app)."""

import re

from services.ingest.api import openapi_staff as openapi


def test_refs_resolve_and_errors_are_problems():
    text = str(openapi.paths()) + str(openapi.SCHEMAS)
    for ref in re.findall(r"#/components/schemas/(\w+)", text):
        assert ref in openapi.SCHEMAS or ref == "Problem", ref
    for path, ops in openapi.paths().items():
        for op in ops.values():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"], (path, status)
