"""Idempotency-Key: a retry with the same key and body returns the first result; the same key
with another body is refused. Keys are per school and per kind (incident, action)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from shared.problems import InvalidInput

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def key_from(request: web.Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters.", field=HEADER
        )
    return key


def request_hash(scope: str, payload: Any) -> bytes:
    """sha256 of canonical JSON, so key order and whitespace do not make a body 'different'."""
    canonical = json.dumps(
        [scope, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()


def mismatch() -> InvalidInput:
    return InvalidInput(
        f"This {HEADER} was already used with a different request body.", field=HEADER
    )
