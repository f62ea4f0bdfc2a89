"""/admin/pending-roles: privileged roles waiting for a second person. The head or a DSL
(elevated) confirms or declines each; the school's admins see the list. Nobody decides a role
for themselves or one they asked for; each decision is audited with the roles before and after.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from services.ingest.records import staff_accounts
from services.ingest.web import guard
from services.ingest.web.admin import school_asked
from services.ingest.web.rendering import render
from shared.auth.administrators import Administrator, audit_change, session_administrator
from shared.auth.sessions import Session
from shared.database import Connection
from shared.problems import NotFound
from shared.web import request_pool

BANNERS = {"confirmed": "The role was confirmed.", "declined": "The role was declined."}


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/admin/pending-roles", pending_page)
    r.add_post("/admin/pending-roles/{pending_id}/{decision:confirm|decline}", decide_form)


async def pending_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request, elevated=True)
    school_id = school_asked(request.query.get("school"), s)
    async with request_pool(request).acquire() as conn:
        decides = await _decides(conn, s, school_id)
        if not decides:
            await session_administrator(conn, s, school_id)
        rows = await staff_accounts.pending_roles(conn, school_id)
    waiting = [
        {
            "id": str(r["id"]),
            "name": f"{r['first_name']} {r['last_name']}",
            "external_id": r["external_id"],
            "role": r["role"].replace("_", " "),
            "roles": [role.replace("_", " ") for role in r["roles"]],
            "requested_at": r["requested_at"],
            "own": s.staff_id in (r["staff_id"], r["requester_id"]),
        }
        for r in rows
    ]
    banner = BANNERS.get(request.query.get("done", ""), "")
    context = {"waiting": waiting, "decides": decides, "banner": banner}
    return render(request, "admin_pending.html", context, s)


async def decide_form(request: web.Request) -> web.StreamResponse:
    s = await guard.staff_session(request, elevated=True)
    guard.check_form(await request.post(), s)
    try:
        pending_id = uuid.UUID(request.match_info["pending_id"])
    except ValueError:
        raise NotFound("No such role waiting.") from None
    confirm = request.match_info["decision"] == "confirm"
    async with request_pool(request).acquire() as conn, conn.transaction():
        if not await _decides(conn, s, s.school_id):
            raise NotFound("No such role waiting.")
        done = await staff_accounts.decide_role(conn, s.school_id, pending_id, s.staff_id, confirm)
        if done is None:
            raise NotFound("No such role waiting, or it is yours to wait for.")
        what = "roles." + done.decision
        await audit_change(
            conn,
            request,
            Administrator(s.staff_id),
            s.school_id,
            what,
            done.roles_before,
            done.roles_after,
            done.staff_id,
        )
    raise web.HTTPSeeOther(f"/admin/pending-roles?done={done.decision}")


async def _decides(conn: Connection, s: Session, school_id: uuid.UUID) -> bool:
    """The elevated head or a DSL of this very school."""
    return school_id == s.school_id and await staff_accounts.may_confirm(
        conn, school_id, s.staff_id
    )
