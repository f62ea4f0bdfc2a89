"""Signing in, elevating and signing out: the steps both the JSON API and the sign-in pages take.

A failed login answers the same, in about the same time, whether or not the address exists:
unknown addresses are hashed against a dummy password and counted by the throttle alike.
Every attempt (password or authenticator code) is counted by the throttle before it is
checked, so concurrent guesses cannot slip in between a check and its count.
Each step raises a Problem (401, 429) the caller turns into JSON or a page's error message.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from shared import audit
from shared.auth import accounts, state, totp
from shared.auth.caller import client_ip
from shared.auth.passwords import burn_time, hash_password, verify_password
from shared.auth.sessions import Session, cookie_value
from shared.database import Connection
from shared.problems import RateLimited, Unauthorized
from shared.web import request_pool

WRONG = "The email address or password is not right."


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: Session
    external_id: str  # the staff member as the school's MIS names them


@dataclass(frozen=True, slots=True)
class Match:
    staff_id: uuid.UUID
    school_id: uuid.UUID
    external_id: str
    stored_hash: str
    needs_rehash: bool


def _match(candidates: list[asyncpg.Record], password: str) -> Match | None:
    """CPU-bound (argon2): run in a thread. The first account the password opens."""
    if not candidates:
        burn_time(password)
    for c in candidates:
        result = verify_password(c["password_hash"], password)
        if result.ok:
            return Match(
                c["id"], c["school_id"], c["external_id"], c["password_hash"], result.needs_rehash
            )
    return None


async def sign_in(request: web.Request, email: str, password: str, code: str) -> SignedIn:
    """A new session for the account `email` and `password` open (and `code`, when the school
    asks for an authenticator at sign-in); any session the browser held before is ended."""
    ip = client_ip(request)
    # Counted before the password is checked: a burst of guesses counts every one of them.
    if wait := await state.throttle(request).attempt(email, ip):
        raise RateLimited("Too many attempts: wait before trying again.", retry_after=wait)
    pool = request_pool(request)
    async with pool.acquire() as conn:
        candidates = await accounts.login_candidates(conn, email)
    match = await asyncio.to_thread(_match, candidates, password)
    if match is None:
        school = candidates[0]["school_id"] if len(candidates) == 1 else None
        async with pool.acquire() as conn:
            await _audit(conn, school, None, "login.failure", ip, {"email": email[:200]})
        raise Unauthorized(WRONG)
    return await _signed_in(request, match, email, password, code)


async def _signed_in(
    request: web.Request, match: Match, email: str, password: str, code: str
) -> SignedIn:
    pool, ip, limiter = request_pool(request), client_ip(request), state.throttle(request)
    staff_state = request.app[state.AUTH]
    async with pool.acquire() as conn:
        school = await accounts.school_access(conn, match.school_id)
        enrolled = await totp.has_device(conn, match.staff_id)
        elevated = False
        if school.totp_at_login and enrolled:
            if not code:
                raise Unauthorized("Enter the code from your authenticator.", totp_required=True)
            if (
                await totp.use_code(conn, staff_state.box, match.school_id, match.staff_id, code)
                is None
            ):  # this attempt was counted before the password was checked
                await _audit(
                    conn, match.school_id, match.staff_id, "login.failure", ip, {"reason": "totp"}
                )
                raise Unauthorized("The authenticator code is not right.", totp_required=True)
            elevated = True
        if match.needs_rehash:
            new_hash = await asyncio.to_thread(hash_password, password)
            await accounts.upgrade_password_hash(conn, match.staff_id, match.stored_hash, new_hash)
        await limiter.succeeded(email, ip)
        await _audit(
            conn, match.school_id, match.staff_id, "login.success", ip, {"elevated": elevated}
        )
    idle = school.session_idle_seconds or staff_state.config.session_idle_seconds
    store = state.sessions(request)
    old = await store.get(cookie_value(request))
    if old is not None:
        await store.delete(old)  # never carry an earlier id across a login
    new = await store.create(
        match.school_id,
        match.staff_id,
        idle,
        elevated=elevated,
        enrol_only=school.totp_at_login and not enrolled,
    )
    return SignedIn(new, match.external_id)


async def elevate(request: web.Request, s: Session, code: str) -> SignedIn:
    """The same session, elevated, under a new id, when `code` is a fresh authenticator code."""
    ip, limiter = client_ip(request), state.throttle(request)
    subject = f"elevate:{s.staff_id}"
    if wait := await limiter.attempt(subject, ip):  # counted before the code is checked
        raise RateLimited("Too many attempts: wait before trying again.", retry_after=wait)
    async with request_pool(request).acquire() as conn:
        device = await totp.use_code(
            conn, request.app[state.AUTH].box, s.school_id, s.staff_id, code
        )
        action = "session.elevate" if device else "session.elevate.failure"
        await _audit(
            conn, s.school_id, s.staff_id, action, ip, {"device": str(device)} if device else {}
        )
        external_id = await conn.fetchval("SELECT external_id FROM staff WHERE id = $1", s.staff_id)
    if device is None:
        raise Unauthorized("The authenticator code is not right, or was used already.")
    await limiter.succeeded(subject, ip)
    elevated = await state.sessions(request).rotate(s, elevated=True)
    return SignedIn(elevated, external_id)


async def sign_out(request: web.Request, s: Session) -> None:
    await state.sessions(request).delete(s)
    async with request_pool(request).acquire() as conn:
        await _audit(conn, s.school_id, s.staff_id, "logout", client_ip(request), {})


async def _audit(
    conn: Connection,
    school_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
    action: str,
    ip: str,
    detail: dict[str, str | bool],
) -> None:
    await audit.append(
        conn,
        school_id=school_id,
        actor_staff_id=staff_id,
        action=action,
        subject_type="staff",
        subject_id=staff_id,
        ip=ip,
        detail=detail,
    )
