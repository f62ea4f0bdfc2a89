"""/admin/categories: the school's categories, its own beside the defaults. Add a category or a
group, and change one: its email-safe name (what alert emails say instead of its real name),
whether it is restricted, whether it is retired (kept on old incidents, offered no more). The
same use case as /v1/schools/{id}/categories (records/categories.py), audited alike."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.ingest.records import categories
from services.ingest.web import guard
from services.ingest.web.admin import AdminPage, admin_page_for
from services.ingest.web.rendering import render
from shared.auth.administrators import audit_change
from shared.database import Connection
from shared.problems import Conflict, InvalidInput, NotFound
from shared.web import request_pool

PATH = "/admin/categories"
CHANGE_PATH = "/admin/categories/change"
MAX_FIELD = 300


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get(PATH, categories_page)
    r.add_post(PATH, add_form)
    r.add_get(CHANGE_PATH, change_page)
    r.add_post(CHANGE_PATH, change_form)


async def categories_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        banner = _banner(request.query.get("done", ""), request.query.get("slug", ""))
        return await _list(request, conn, page, _blank(), banner=banner)


async def add_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        posted = await request.post()
        guard.check_form(posted, page.session)
        form = {k: _text(posted, k) for k in ("name", "group", "email_name")}
        form["restricted"] = "yes" if posted.get("restricted") == "yes" else ""
        body: dict[str, Any] = {
            "name": form["name"],
            "group": form["group"] or None,
            "restricted": bool(form["restricted"]),
            "email_name": form["email_name"] or None,
        }
        try:
            new = categories.parse_new(body)
            async with conn.transaction():
                added = await categories.add_category(conn, page.school_id, new)
                await audit_change(
                    conn, request, page.who, page.school_id, "categories.add", None, added,
                    subject_id=added["slug"],
                )  # fmt: skip
        except (InvalidInput, Conflict) as e:
            errors = {e.field if e.field in form else "name": _sentence(e.detail)}
            return await _list(request, conn, page, form, errors=errors, status=400)
    raise _back(page, "added", added["slug"])


async def change_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        category = await _category(conn, page, request.query.get("slug", ""))
    form = {
        "email_name": category["email_name"] or "",
        "restricted": "yes" if category["restricted"] else "",
        "retired": "yes" if category["retired"] else "",
    }
    return _change(request, page, category, form)


async def change_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        posted = await request.post()
        guard.check_form(posted, page.session)
        category = await _category(conn, page, _text(posted, "slug"))
        form = {
            "email_name": _text(posted, "email_name"),
            "restricted": "yes" if posted.get("restricted") == "yes" else "",
            "retired": "yes" if posted.get("retired") == "yes" else "",
        }
        body = {
            "email_name": form["email_name"] or None,
            "restricted": bool(form["restricted"]),
            "retired": bool(form["retired"]),
        }
        try:
            async with conn.transaction():
                before, after = await categories.change_category(
                    conn, page.school_id, category["slug"], categories.parse_changes(body)
                )
                if before != after:
                    await audit_change(
                        conn, request, page.who, page.school_id, "categories.change", before,
                        after, subject_id=category["slug"],
                    )  # fmt: skip
        except InvalidInput as e:
            errors = {e.field if e.field in form else "email_name": _sentence(e.detail)}
            return _change(request, page, category, form, errors, status=400)
    raise _back(page, "changed", category["slug"])


async def _category(conn: Connection, page: AdminPage, slug: str) -> dict[str, Any]:
    for c in await categories.list_categories(conn, page.school_id):
        if c["slug"] == slug:
            return c
    raise NotFound("No such category.")


async def _list(
    request: web.Request,
    conn: Connection,
    page: AdminPage,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    banner: str = "",
    status: int = 200,
) -> web.Response:
    found = await categories.list_categories(conn, page.school_id)
    names = {c["slug"]: c["name"] for c in found if c["group"] is None}
    rows = [{**c, "group_name": names.get(c["group"] or "", "")} for c in found]
    rows.sort(key=lambda c: (c["group_name"] or c["name"]).lower() + "/" + c["slug"])
    errors = errors or {}
    context = page.context(
        rows=rows,
        groups=sorted(names.items(), key=lambda g: g[1].lower()),
        form=form,
        errors=errors,
        error_list=list(errors.items()),
        banner=banner,
    )
    return render(request, "admin_categories.html", context, page.session, status=status)


def _change(
    request: web.Request,
    page: AdminPage,
    category: dict[str, Any],
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    errors = errors or {}
    context = page.context(
        category=category, form=form, errors=errors, error_list=list(errors.items())
    )
    return render(request, "admin_category.html", context, page.session, status=status)


def _blank() -> dict[str, str]:
    return {"name": "", "group": "", "email_name": "", "restricted": ""}


def _text(posted: Any, key: str) -> str:
    value = posted.get(key, "")
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def _sentence(detail: str) -> str:
    return detail.rstrip(".")


def _banner(done: str, slug: str) -> str:
    if done == "added":
        return f"Category added: {slug}"
    if done == "changed":
        return f"Category changed: {slug}"
    return ""


def _back(page: AdminPage, done: str, slug: str) -> web.HTTPSeeOther:
    sep = "&" if page.query else "?"
    return web.HTTPSeeOther(f"{PATH}{page.query}{sep}done={done}&slug={quote(slug, safe='')}")
