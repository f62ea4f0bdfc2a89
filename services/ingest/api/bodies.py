"""Reading request bodies: JSON only, bounded size; every failure a 4xx problem."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from shared.problems import MalformedRequest, TooLarge, UnsupportedMediaType


def is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def read_json(request: web.Request, max_bytes: int) -> Any:
    if not is_json(request.content_type):
        raise UnsupportedMediaType("Send the body as application/json.", field="Content-Type")
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"The body may be at most {max_bytes} bytes.")
    raw = await _read_at_most(request, max_bytes)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and bad UTF-8; RecursionError absurdly deep nesting.
        raise MalformedRequest("The body is not valid JSON.") from None


async def _read_at_most(request: web.Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it passes max_bytes (chunked uploads included)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"The body may be at most {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
