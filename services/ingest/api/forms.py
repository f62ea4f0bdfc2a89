"""Reading the small JSON bodies of the staff endpoints: an object of bounded strings."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.ingest.api.bodies import read_json
from shared import fields
from shared.problems import InvalidInput, MalformedRequest

MAX_BODY = 16 * 1024


async def json_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise MalformedRequest("The body must be a JSON object.")
    return body


def text(
    body: dict[str, Any], name: str, max_length: int, required: bool = True, default: str = ""
) -> str:
    value = body.get(name)
    if value is None and not required:
        return default
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput(f"'{name}' is required and must be a string.", field=name)
    if len(value) > max_length:
        raise InvalidInput(f"'{name}' may be at most {max_length} characters.", field=name)
    # NUL or a lone surrogate would fail in the driver (a 500): refuse them here.
    return fields.text(value, name, max_length, min_len=0, strip=False)
