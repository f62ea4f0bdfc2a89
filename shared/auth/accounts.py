"""Staff accounts in PostgreSQL: who an email address belongs to, passwords, reset links and
the school's access settings. Query functions take a connection and never commit."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import asyncpg

from shared.auth.passwords import Policy
from shared.database import Connection


@dataclass(frozen=True, slots=True)
class SchoolAccess:
    name: str
    policy: Policy
    totp_at_login: bool
    session_idle_seconds: int | None


async def school_access(conn: Connection, school_id: uuid.UUID) -> SchoolAccess:
    row = await conn.fetchrow(
        """SELECT s.name, a.password_policy, a.password_min_length, a.totp_at_login,
                  a.session_idle_seconds
           FROM schools s LEFT JOIN school_access_settings a ON a.school_id = s.id
           WHERE s.id = $1""",
        school_id,
    )
    assert row is not None  # callers pass the school of a key or session, which exists
    return SchoolAccess(
        name=row["name"],
        policy=Policy(row["password_policy"] or "school", row["password_min_length"] or 8),
        totp_at_login=bool(row["totp_at_login"]),
        session_idle_seconds=row["session_idle_seconds"],
    )


async def login_candidates(conn: Connection, email: str) -> list[asyncpg.Record]:
    """Active staff with this address and a password set (one per school they work at)."""
    return await conn.fetch(
        """SELECT s.id, s.school_id, s.external_id, c.password_hash
           FROM staff s JOIN staff_credentials c ON c.staff_id = s.id
           WHERE lower(s.email) = lower($1) AND s.active
           ORDER BY s.school_id""",
        email,
    )


async def active_staff_by_email(conn: Connection, email: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, school_id, email FROM staff WHERE lower(email) = lower($1) AND active""",
        email,
    )


async def set_password_hash(
    conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID, password_hash: str
) -> None:
    await conn.execute(
        """INSERT INTO staff_credentials (staff_id, school_id, password_hash) VALUES ($1, $2, $3)
           ON CONFLICT (staff_id) DO UPDATE
           SET password_hash = EXCLUDED.password_hash, password_set_at = now()""",
        staff_id,
        school_id,
        password_hash,
    )


async def upgrade_password_hash(
    conn: Connection, staff_id: uuid.UUID, old_hash: str, new_hash: str
) -> None:
    """Rehash on login keeps password_set_at: the password itself did not change."""
    await conn.execute(
        "UPDATE staff_credentials SET password_hash = $3 WHERE staff_id = $1 "
        "AND password_hash = $2",
        staff_id,
        old_hash,
        new_hash,
    )


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_reset_token(
    conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID, minutes: int
) -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO password_reset_tokens (token_hash, school_id, staff_id, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(mins => $4))""",
        token_hash(token),
        school_id,
        staff_id,
        minutes,
    )
    return token


async def reset_target(conn: Connection, token: str) -> asyncpg.Record | None:
    """The staff member a live (unused, unexpired) reset token belongs to."""
    return await conn.fetchrow(
        """SELECT t.staff_id, t.school_id, s.email, s.first_name, s.last_name
           FROM password_reset_tokens t JOIN staff s ON s.id = t.staff_id AND s.active
           WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()""",
        token_hash(token),
    )


async def use_reset_token(conn: Connection, token: str) -> uuid.UUID | None:
    """Marks the token used (once: a guarded update) and withdraws the staff member's others."""
    staff_id: uuid.UUID | None = await conn.fetchval(
        """UPDATE password_reset_tokens SET used_at = now()
           WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING staff_id""",
        token_hash(token),
    )
    if staff_id is not None:
        await conn.execute(
            "UPDATE password_reset_tokens SET used_at = now() "
            "WHERE staff_id = $1 AND used_at IS NULL",
            staff_id,
        )
    return staff_id
