"""Paging a JSON list without changing its shape: `page` and `per_page` from the query (422
naming the bad one; per_page cut to a maximum), and the neighbouring pages in a `Link` header
(RFC 8288), relative, built from the path only, never from the Host header."""

from __future__ import annotations

from aiohttp import web

from shared.problems import InvalidInput

MAX_PAGE = 1_000_000


def page_args(request: web.Request, default: int, maximum: int) -> tuple[int, int]:
    """(page from 1, per_page at most `maximum`)."""
    page = _positive(request, "page", 1, MAX_PAGE)
    per_page = min(_positive(request, "per_page", default, None), maximum)
    return page, per_page


def _positive(request: web.Request, name: str, default: int, maximum: int | None) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise InvalidInput(f"{name} must be a whole number from 1.", field=name)
    if maximum is not None and int(raw) > maximum:
        raise InvalidInput(f"{name} must be at most {maximum}.", field=name)
    return int(raw)


def links(request: web.Request, page: int, per_page: int, more: bool) -> dict[str, str] | None:
    """The `Link` header for the previous and (when `more`) the next page; None for neither."""
    found = [_link(request, page - 1, per_page, "prev")] if page > 1 else []
    if more:
        found.append(_link(request, page + 1, per_page, "next"))
    return {"Link": ", ".join(found)} if found else None


def _link(request: web.Request, page: int, per_page: int, rel: str) -> str:
    others = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
    url = request.rel_url.with_query({"page": page, "per_page": per_page, **others})
    return f'<{url}>; rel="{rel}"'
