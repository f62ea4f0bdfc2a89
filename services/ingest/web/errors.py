"""Errors on pages are pages: a Problem or an HTTP error raised while serving a page becomes the
error page with its status (the JSON API keeps problem+json, shared.problems)."""

from __future__ import annotations

from aiohttp import http_exceptions, web

from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared.problems import Handler, Problem

_TITLES = {
    400: "Something in the request was not right",
    403: "You cannot do that",
    404: "Page not found",
    413: "That is too large",
    429: "Too many attempts",
    503: "Beacon is busy",
}
_DETAILS = {404: "If you followed a link, it may be to something you do not have access to."}


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(("/v1/", "/static/")) or request.path in (
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        return await handler(request)
    try:
        return await handler(request)
    except Problem as p:
        return await _page(request, p.status, p.detail, p.headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return await _page(request, e.status, _DETAILS.get(e.status, e.reason), {})
    except http_exceptions.BadHttpMessage:
        # Raised while a form is read (e.g. a malformed multipart part header).
        return await _page(request, 400, "The form could not be read. Try again.", {})


async def _page(
    request: web.Request, status: int, detail: str, headers: dict[str, str]
) -> web.Response:
    session = await guard.current_session(request)
    title = _TITLES.get(status, "Something went wrong")
    response = render(
        request, "error.html", {"title": title, "detail": detail}, session, status=status
    )
    response.headers.update(headers)
    return response
