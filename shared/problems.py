"""Domain errors and their one mapping to RFC 9457 problem+json responses.

Views raise these; `problem_middleware` turns them (and aiohttp's own HTTP errors) into
`application/problem+json`. Anything else is logged and answered as a bare 500 with no detail.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions
import structlog
from aiohttp import http_exceptions, web

from shared import database

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra
        self.headers: dict[str, str] = {}


class InvalidInput(Problem):
    status = 422
    title = "Invalid input"


class MalformedRequest(Problem):
    status = 400
    title = "Malformed request"


class Unauthorized(Problem):
    status = 401
    title = "Not authenticated"


class Forbidden(Problem):
    status = 403
    title = "Not allowed"


class NotFound(Problem):
    status = 404
    title = "Not found"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class TooLarge(Problem):
    status = 413
    title = "Request too large"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported media type"


class Overloaded(Problem):
    """Shed load: the client should retry after `retry_after` seconds."""

    status = 503
    title = "Service overloaded"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class RateLimited(Overloaded):
    status = 429
    title = "Too many requests"


def problem_response(
    status: int,
    title: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    if field is not None:
        body["field"] = field
        body["errors"] = [{"field": field, "detail": detail}]
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_JSON, headers=headers
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# PostgreSQL away or overloaded: shed with 503, never a 500 or a hang.
_DATABASE_UNAVAILABLE = database.UNAVAILABLE
# Redis away (sessions, login throttling, the doorbell): also a 503 to retry, never a 500.
_REDIS_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as p:
        return problem_response(p.status, p.title, p.detail, p.field, p.headers, **p.extra)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        headers = {k: v for k, v in e.headers.items() if k.lower() in ("allow", "retry-after")}
        return problem_response(e.status, e.reason, e.text or e.reason, headers=headers)
    except http_exceptions.BadHttpMessage as e:
        # Raised while a view reads the body (e.g. a malformed multipart part header).
        return problem_response(400, "Malformed request", f"The request is malformed: {e.message}")
    except _REDIS_UNAVAILABLE as e:
        log.warning("redis_unavailable", error=repr(e), path=request.path)
        return problem_response(
            503,
            "Service unavailable",
            "A service Beacon depends on is unavailable; retry shortly.",
            headers={"Retry-After": "2"},
        )
    except _DATABASE_UNAVAILABLE as e:
        log.warning("database_unavailable", error=repr(e), path=request.path)
        return problem_response(
            503,
            "Service unavailable",
            "The database is unavailable; retry shortly.",
            headers={"Retry-After": "2"},
        )
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return problem_response(500, "Internal error", "An unexpected error occurred.")
