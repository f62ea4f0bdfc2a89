"""Who may administer a school: the platform's admin token (every school), an elevated
session of one of the school's own staff with the `admin` role (that school only), or an
elevated session of a trust admin (a member of the trust's central team: every school of that
trust, and nothing else). Anyone else is told the school does not exist (404), exactly as for
a school id that does not.

Every change an administrator makes is audited with who, what, before and after
(`audit_change`), by token or session alike, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web

from shared import audit
from shared.audit import JsonValue
from shared.auth.api_keys import require_admin
from shared.auth.caller import client_ip, session
from shared.auth.sessions import Session
from shared.database import Connection
from shared.domain import Role
from shared.problems import NotFound
from shared.web import SETTINGS

# The audit log's kind for administrators' changes: GET /v1/schools/{id}/audit?kind=admin.
ADMIN_ACTION_PREFIX = "admin."


@dataclass(frozen=True, slots=True)
class Administrator:
    """`staff_id` None: the platform token."""

    staff_id: uuid.UUID | None

    @property
    def by(self) -> str:
        return "platform" if self.staff_id is None else "session"


PLATFORM = Administrator(None)

# The school's own active admin, or an active member of the central team of the school's trust
# (while their own school is still one of the trust's).
_SCHOOL_ADMIN = """
SELECT s.id FROM staff s
WHERE s.id = $1 AND s.active AND (
      (s.school_id = $2 AND $3 = ANY(s.roles))
   OR EXISTS (SELECT FROM trust_admins t
              JOIN schools own ON own.id = s.school_id AND own.trust_id = t.trust_id
              JOIN schools sc ON sc.trust_id = t.trust_id
              WHERE t.staff_id = s.id AND sc.id = $2))"""


async def school_administrator(
    request: web.Request, conn: Connection, school_id: uuid.UUID
) -> Administrator:
    """The platform token (an Authorization header), else the session of an elevated admin of
    `school_id` or of its trust; 404 for anyone else (a school they cannot administer does not
    exist)."""
    if "Authorization" in request.headers:
        require_admin(request, request.app[SETTINGS].admin_token)
        return PLATFORM
    return await session_administrator(conn, await session(request), school_id)


async def session_administrator(
    conn: Connection, s: Session, school_id: uuid.UUID
) -> Administrator:
    """The same rule for a session already in hand (a page, whose form carries the CSRF
    token): an elevated admin of `school_id` or of its trust, else 404."""
    if not s.elevated:
        raise NotFound("No such school.")
    if await conn.fetchval(_SCHOOL_ADMIN, s.staff_id, school_id, Role.ADMIN.value) is None:
        raise NotFound("No such school.")
    return Administrator(s.staff_id)


async def audit_change(
    conn: Connection,
    request: web.Request,
    who: Administrator,
    school_id: uuid.UUID,
    what: str,
    before: JsonValue,
    after: JsonValue,
    subject_id: str | uuid.UUID | None = None,
) -> None:
    """One audited administrator change (`what`: e.g. "categories.add")."""
    await audit.append(
        conn,
        school_id=school_id,
        actor_staff_id=who.staff_id,
        action=ADMIN_ACTION_PREFIX + what,
        subject_type="school",
        subject_id=subject_id or school_id,
        ip=client_ip(request),
        detail={"by": who.by, "before": before, "after": after},
    )
