"""/admin/staff: every member of staff with their roles (and roles waiting), last sign-in and
authenticators; a set-password link sent, a lost authenticator removed (which ends their
sessions), someone made inactive (signed out at once). Each change audited."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.ingest.api.schools import send_link, set_password_link
from services.ingest.records import staff_accounts
from services.ingest.web import guard
from services.ingest.web.admin import AdminPage, admin_page_for
from services.ingest.web.rendering import render
from shared.auth import totp
from shared.auth.administrators import audit_change
from shared.auth.state import sessions
from shared.problems import InvalidInput, NotFound
from shared.web import request_pool

BANNERS = {
    "link": "A set-password link was sent.",
    "device": "The authenticator was removed and their sessions ended.",
    "inactive": "They were made inactive and signed out.",
}


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/admin/staff", staff_page)
    r.add_post("/admin/staff/{staff_id}/set-password-link", send_link_form)
    r.add_post("/admin/staff/{staff_id}/devices/{device_id}/remove", remove_device_form)
    r.add_post("/admin/staff/{staff_id}/deactivate", deactivate_form)


async def staff_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        rows = await staff_accounts.list_staff(conn, page.school_id)
    banner = BANNERS.get(request.query.get("done", ""), "")
    context = page.context(
        staff=[_person(r) for r in rows], banner=banner, me=str(page.who.staff_id)
    )
    return render(request, "admin_staff.html", context, page.session)


def _person(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "external_id": r["external_id"],
        "name": f"{r['first_name']} {r['last_name']}",
        "email": r["email"],
        "roles": [role.replace("_", " ") for role in r["roles"]],
        "pending": [role.replace("_", " ") for role in r["pending"]],
        "active": r["active"],
        "last_sign_in": r["last_sign_in"],
        "devices": [
            {"id": str(i), "name": n or "Authenticator"}
            for i, n in zip(r["device_ids"], r["device_names"], strict=True)
        ],
    }


async def send_link_form(request: web.Request) -> web.StreamResponse:
    page, person = await _posted(request)
    async with request_pool(request).acquire() as conn, conn.transaction():
        if not person["active"]:
            raise InvalidInput("They are inactive: the roster must list them again first.")
        token = await set_password_link(request, conn, page.school_id, person["id"])
        await audit_change(
            conn,
            request,
            page.who,
            page.school_id,
            "staff.set_password_link",
            None,
            "sent",
            person["id"],
        )
    send_link(request, person["email"], token)
    raise _done(page, "link")


async def remove_device_form(request: web.Request) -> web.StreamResponse:
    page, person = await _posted(request)
    device_id = _uuid(request.match_info["device_id"], "device")
    async with request_pool(request).acquire() as conn, conn.transaction():
        if not await totp.remove_device(conn, page.school_id, person["id"], device_id):
            raise NotFound("No such authenticator.")
        await audit_change(
            conn,
            request,
            page.who,
            page.school_id,
            "staff.device_removed",
            {"device": str(device_id)},
            None,
            person["id"],
        )
    await sessions(request).end_all(person["id"])
    raise _done(page, "device")


async def deactivate_form(request: web.Request) -> web.StreamResponse:
    page, person = await _posted(request)
    if person["id"] == page.who.staff_id:
        raise InvalidInput("You cannot make yourself inactive.")
    async with request_pool(request).acquire() as conn, conn.transaction():
        if await staff_accounts.deactivate(conn, page.school_id, person["id"]):
            await audit_change(
                conn,
                request,
                page.who,
                page.school_id,
                "staff.deactivated",
                {"active": True},
                {"active": False},
                person["id"],
            )
    await sessions(request).end_all(person["id"])
    raise _done(page, "inactive")


async def _posted(request: web.Request) -> tuple[AdminPage, asyncpg.Record]:
    """The admin page's guard and CSRF check, and the member of staff in the path."""
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        guard.check_form(await request.post(), page.session)
        staff_id = _uuid(request.match_info["staff_id"], "member of staff")
        person = await staff_accounts.find_staff(conn, page.school_id, staff_id)
    if person is None:
        raise NotFound("No such member of staff.")
    return page, person


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No such {what}.") from None


def _done(page: AdminPage, what: str) -> web.HTTPSeeOther:
    sep = "&" if page.query else "?"
    return web.HTTPSeeOther(f"/admin/staff{page.query}{sep}done={what}")
