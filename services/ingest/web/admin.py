"""The school admin's pages: /admin, the landing page (elevated staff who administer a school:
its own `admin`s and its trust's central team), and the guard every /admin page shares.

An admin page administers one school: the session's own, or (a trust admin) the one named by
`?school=`. Whoever may not administer it gets the 404 page, as the API answers 404
(shared.auth.administrators, one rule for both). The `admin` role reads no incidents: these
pages show accounts and settings only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from services.ingest.api.schools import admin_changes
from services.ingest.records import staff_accounts, trusts
from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared.auth.administrators import Administrator, session_administrator
from shared.auth.sessions import Session
from shared.database import Connection
from shared.problems import NotFound
from shared.web import request_pool

RECENT = 10


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/admin", admin_page)


@dataclass(frozen=True, slots=True)
class AdminPage:
    session: Session
    school_id: uuid.UUID
    who: Administrator

    @property
    def query(self) -> str:
        """`?school=...` for a school other than the session's own (kept on every link)."""
        if self.school_id == self.session.school_id:
            return ""
        return "?" + urlencode({"school": str(self.school_id)})

    def context(self, **more: Any) -> dict[str, Any]:
        return {"school_query": self.query, "school_id": str(self.school_id), **more}


async def admin_page_for(request: web.Request, conn: Connection) -> AdminPage:
    """An elevated session (else to sign in or elevate, and back) that administers the school
    asked for; the 404 page otherwise."""
    s = await guard.staff_session(request, elevated=True)
    school_id = school_asked(request.query.get("school"), s)
    who = await session_administrator(conn, s, school_id)
    return AdminPage(s, school_id, who)


def school_asked(raw: str | None, s: Session) -> uuid.UUID:
    """The school named by `?school=` (a trust admin's pick), else the session's own."""
    if not raw:
        return s.school_id
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such school.") from None


async def admin_page(request: web.Request) -> web.Response:
    async with request_pool(request).acquire() as conn:
        page = await admin_page_for(request, conn)
        name = await conn.fetchval("SELECT name FROM schools WHERE id = $1", page.school_id)
        schools = await trusts.administered_schools(conn, page.session.staff_id)
        pending = await staff_accounts.pending_roles(conn, page.school_id)
        changes = await admin_changes(conn, page.school_id, RECENT)
    context = page.context(
        school_name=name,
        schools=[s for s in schools if s["id"] != page.school_id],
        pending=len(pending),
        changes=[_change(c) for c in changes],
    )
    return render(request, "admin.html", context, page.session)


def _change(row: Any) -> dict[str, Any]:
    who = (
        "The platform" if row["external_id"] is None else f"{row['first_name']} {row['last_name']}"
    )
    return {"at": row["at"], "what": row["action"].removeprefix("admin."), "who": who}
