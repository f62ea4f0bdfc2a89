"""/admin/rules: the school's alert rules as a table (category or group -> roles, class
teachers), each row changed or removed with its own form, a rule added with another, and a
preview: "an incident in X about a pupil of class Y would alert: ...", computed by the worker's
own rule function (shared.rules) over the school's rules.

Saving runs the API's steps (records/alert_rules.py: the same parsing, the same category check,
the same replacement at once) and is audited alike. Rules are replaced as a whole, so a row is
named by its id: a form for a rule someone else changed meanwhile finds it gone and says so.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiMapping

from services.ingest.records import alert_rules as records
from services.ingest.records import categories
from services.ingest.web import guard
from services.ingest.web.admin import AdminPage, admin_page_for
from services.ingest.web.rendering import render
from shared.auth.administrators import audit_change
from shared.database import Connection
from shared.domain import Role
from shared.problems import InvalidInput
from shared.web import request_pool

PATH = "/admin/rules"
REMOVE_PATH = "/admin/rules/remove"
ROLE_NAMES = {
    Role.HEAD: "Headteacher",
    Role.SLT: "Senior leaders",
    Role.DSL: "DSLs",
    Role.DEPUTY_DSL: "Deputy DSLs",
    Role.PASTORAL: "Pastoral staff",
    Role.TEACHER: "Teachers",
    Role.TEACHING_ASSISTANT: "Teaching assistants",
    Role.ADMIN: "Admins",
}
KINDS = {"incident": "A new incident", "action": "A new action"}
_RULE_FIELDS = ("event_kind", "category", "roles", "class_teachers")


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get(PATH, rules_page)
    r.add_post(PATH, save_form)
    r.add_post(REMOVE_PATH, remove_form)


async def rules_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        listed = await records.rules_json(conn, page.school_id)
        edit = next((r for r in listed if r["id"] == request.query.get("edit")), None)
        form = _form_of(edit) if edit else _blank()
        done = {"saved": "The rule was saved.", "removed": "The rule was removed."}
        banner = done.get(request.query.get("done", ""), "")
        return await _render(request, conn, page, listed, form, banner=banner)


async def save_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        posted = await request.post()
        guard.check_form(posted, page.session)
        form = _posted_rule(posted)
        async with conn.transaction():
            listed = await records.rules_json(conn, page.school_id)
            at = _index(listed, form["id"])
            if at is None:
                errors = {"event_kind": "This rule was changed by someone else: start again"}
                return await _render(request, conn, page, listed, _blank(), errors, status=409)
            wanted = [_body(r) for r in listed]
            wanted[at:at + 1] = [_body(form)]  # fmt: skip
            try:
                await _replace(request, conn, page, wanted)
            except InvalidInput as e:
                errors = {_field(e.field): e.detail.rstrip(".")}
                return await _render(request, conn, page, listed, form, errors, status=400)
    raise _back(page, "saved")


async def remove_form(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        posted = await request.post()
        guard.check_form(posted, page.session)
        rule_id = str(posted.get("id", ""))
        async with conn.transaction():
            listed = await records.rules_json(conn, page.school_id)
            kept = [_body(r) for r in listed if r["id"] != rule_id]
            if len(kept) != len(listed):
                await _replace(request, conn, page, kept)
    raise _back(page, "removed")


async def _replace(
    request: web.Request, conn: Connection, page: AdminPage, wanted: list[dict[str, Any]]
) -> None:
    """The API's PUT: parsed, checked and replaced at once, then audited."""
    rules = records.parse_rules(wanted)
    before, after = await records.replace_rules(conn, page.school_id, rules)
    await audit_change(
        conn, request, page.who, page.school_id, "alert_rules.replace", before, after
    )


def _index(listed: list[dict[str, Any]], rule_id: str) -> int | None:
    """Where the posted rule goes: its row, or the end for a new one; None if it is gone."""
    if not rule_id:
        return len(listed)
    return next((i for i, r in enumerate(listed) if r["id"] == rule_id), None)


def _field(path: str | None) -> str:
    """'rules[3].category' -> 'category' (the form shows one rule)."""
    name = (path or "").rsplit(".", 1)[-1].split("[", 1)[0]
    return name if name in _RULE_FIELDS else "event_kind"


def _posted_rule(posted: MultiMapping[Any]) -> dict[str, Any]:
    return {
        "id": str(posted.get("id", ""))[:64],
        "event_kind": str(posted.get("event_kind", "")),
        "category": str(posted.get("category", "")) or None,
        "roles": [str(v) for v in posted.getall("roles", [])],
        "class_teachers": posted.get("class_teachers") == "yes",
    }


def _body(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: rule[k] for k in _RULE_FIELDS}


def _form_of(rule: dict[str, Any]) -> dict[str, Any]:
    return {**_body(rule), "id": rule["id"]}


def _blank() -> dict[str, Any]:
    return {
        "id": "",
        "event_kind": "incident",
        "category": None,
        "roles": [],
        "class_teachers": False,
    }


async def _preview(
    conn: Connection,
    page: AdminPage,
    query: MultiMapping[str],
    found: list[dict[str, Any]],
    classes: dict[str, str],
) -> dict[str, Any] | None:
    category, class_ref = query.get("preview_category", ""), query.get("preview_class", "")
    names = {c["slug"]: c["name"] for c in found}
    if category not in names or class_ref not in classes:
        return None
    restricted = {c["slug"] for c in found if c["restricted"]}
    result = await records.preview(conn, page.school_id, category, class_ref, restricted)
    return {
        "category": names[category],
        "class_name": classes[class_ref],
        "restricted": result.restricted,
        "roles": [ROLE_NAMES[Role(r)] for r in sorted(result.audience.roles)],
        "class_teachers": result.audience.class_teachers,
        "people": result.people,
    }


async def _render(
    request: web.Request,
    conn: Connection,
    page: AdminPage,
    listed: list[dict[str, Any]],
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    banner: str = "",
    status: int = 200,
) -> web.Response:
    found = await categories.list_categories(conn, page.school_id)
    classes = await records.classes(conn, page.school_id)
    names = {c["slug"]: c["name"] for c in found}
    choices = [(c["slug"], _label(c, names)) for c in found]
    errors = errors or {}
    context = page.context(
        rules=[{**r, "category_name": _rule_category(r, found, names)} for r in listed],
        form=form,
        kinds=KINDS,
        role_names=ROLE_NAMES,
        categories=sorted(choices, key=lambda c: c[1].lower()),
        classes=classes,
        preview=await _preview(
            conn, page, request.query, found, {c["external_id"]: c["name"] for c in classes}
        ),
        asked={k: request.query.get(k, "") for k in ("preview_category", "preview_class")},
        errors=errors,
        error_list=list(errors.items()),
        banner=banner,
    )
    return render(request, "admin_rules.html", context, page.session, status=status)


def _label(category: dict[str, Any], names: dict[str, str]) -> str:
    group = names.get(category["group"] or "")
    return f"{group}: {category['name']}" if group else f"{category['name']} (group)"


def _rule_category(rule: dict[str, Any], found: list[dict[str, Any]], names: dict[str, str]) -> str:
    if rule["category"] is None:
        return "Every " + str(rule["event_kind"])
    category = next((c for c in found if c["slug"] == rule["category"]), None)
    return _label(category, names) if category else rule["category"]


def _back(page: AdminPage, done: str) -> web.HTTPSeeOther:
    sep = "&" if page.query else "?"
    return web.HTTPSeeOther(f"{PATH}{page.query}{sep}done={done}")
