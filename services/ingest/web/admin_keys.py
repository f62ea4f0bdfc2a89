"""/admin/keys: the school's API keys. Create one with scopes and the staff it may post as
(the key is shown on the next page, once: only its hash is stored), list them, revoke one (at
once, on every process). The same steps as /v1/schools/{id}/api-keys (shared.auth.api_keys,
shared.auth.scopes), audited."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import redis.exceptions
from aiohttp import web

from services.ingest.web import guard
from services.ingest.web.admin import AdminPage, admin_page_for
from services.ingest.web.rendering import render
from shared import fields
from shared.auth import scopes
from shared.auth.administrators import audit_change
from shared.auth.api_keys import issue_api_key, revoke_api_key
from shared.database import Connection
from shared.problems import InvalidInput, NotFound, Overloaded
from shared.web import REDIS, request_pool

SCOPE_TEXT = {
    scopes.INCIDENTS_WRITE: "Post incidents, and actions and files on them",
    scopes.INCIDENTS_READ: "Read back the incidents it posted",
    scopes.ALERTS_READ: "See who was alerted about the incidents it posted",
    scopes.ALERTS_STAFF: "Show staff their own alerts (a staff app)",
    scopes.RESTRICTED: "Post restricted (safeguarding, SLT) categories",
    scopes.ROSTER_WRITE: "Import the roster (an MIS sync)",
}
_LIST = """SELECT id, name, scopes, authors, created_at, revoked_at FROM api_keys
WHERE school_id = $1 ORDER BY revoked_at IS NOT NULL, created_at DESC, id"""


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/admin/keys", keys_page)
    r.add_post("/admin/keys", create_form)
    r.add_post("/admin/keys/{key_id}/revoke", revoke_form)


async def keys_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        keys = await _keys(conn, page)
    banner = "The key was revoked." if request.query.get("done") == "revoked" else ""
    form = {"name": "", "scopes": list(scopes.DEFAULT), "authors": ""}
    return _render(request, page, keys, form, banner=banner)


async def create_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
    posted = await request.post()
    guard.check_form(posted, page.session)
    form: dict[str, Any] = {
        "name": str(posted.get("name", "")).strip()[:300],
        "scopes": [str(v) for v in posted.getall("scopes", [])],
        "authors": str(posted.get("authors", "")).strip()[:20_000],
    }
    errors, granted, authors = _check(form)
    async with request_pool(request).acquire() as conn, conn.transaction():
        if errors:
            return _render(request, page, await _keys(conn, page), form, errors=errors, status=400)
        key_id, key = await issue_api_key(conn, page.school_id, form["name"], granted, authors)
        after = {"name": form["name"], "scopes": list(granted), "authors": _list(authors)}
        await audit_change(
            conn, request, page.who, page.school_id, "api_keys.create", None, after, key_id
        )
        keys = await _keys(conn, page)
    blank: dict[str, Any] = {"name": "", "scopes": list(scopes.DEFAULT), "authors": ""}
    return _render(request, page, keys, blank, created={"name": form["name"], "key": key})


def _check(form: dict[str, Any]) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...] | None]:
    errors: dict[str, str] = {}
    if not form["name"]:
        errors["name"] = "Enter a name for the key, such as the app it is for"
    elif len(form["name"]) > 200 or not fields.storable(form["name"]):
        errors["name"] = "The name must be 200 characters or fewer"
    granted: tuple[str, ...] = ()
    try:
        granted = scopes.parse_scopes(form["scopes"])
    except InvalidInput:
        errors["scopes"] = "Select what the key may do from the list"
    if not granted and "scopes" not in errors:
        errors["scopes"] = "Select at least one thing the key may do"
    ids = [a for a in re.split(r"[\s,;]+", form["authors"]) if a]
    authors: tuple[str, ...] | None = None
    try:
        authors = scopes.parse_authors(ids) if ids else None
    except InvalidInput:
        errors["authors"] = f"Enter at most {scopes.MAX_AUTHORS} staff IDs of up to 64 characters"
    return errors, granted, authors


async def revoke_form(request: web.Request) -> web.StreamResponse:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        guard.check_form(await request.post(), page.session)
        try:
            key_id = uuid.UUID(request.match_info["key_id"])
        except ValueError:
            raise NotFound("No such API key.") from None
        async with conn.transaction():
            try:
                found = await revoke_api_key(conn, request.app[REDIS], page.school_id, key_id)
            except (redis.exceptions.RedisError, OSError):
                raise Overloaded(
                    "The key is revoked, but not every process has heard yet: try again."
                ) from None
            if not found:
                raise NotFound("No such API key.")
            await audit_change(
                conn, request, page.who, page.school_id, "api_keys.revoke", None, "revoked", key_id
            )
    sep = "&" if page.query else "?"
    raise web.HTTPSeeOther(f"/admin/keys{page.query}{sep}done=revoked")


async def _keys(conn: Connection, page: AdminPage) -> list[asyncpg.Record]:
    return await conn.fetch(_LIST, page.school_id)


def _list(authors: tuple[str, ...] | None) -> list[str] | None:
    return None if authors is None else list(authors)


def _render(
    request: web.Request,
    page: AdminPage,
    keys: list[asyncpg.Record],
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    created: dict[str, str] | None = None,
    banner: str = "",
    status: int = 200,
) -> web.Response:
    errors = errors or {}
    context = page.context(
        keys=keys,
        form=form,
        scope_choices=[(s, SCOPE_TEXT[s]) for s in scopes.ALL],
        created=created,
        errors=errors,
        error_list=list(errors.items()),
        banner=banner,
    )
    return render(request, "admin_keys.html", context, page.session, status=status)
