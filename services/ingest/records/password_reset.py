"""Setting a password through an emailed one-time link (new staff and forgotten passwords):
the steps the JSON API and the pages both take.

Asking for a link answers at once, the same way and in the same time whether or not the
address exists: looking the address up, storing a link and sending it all happen after the
answer. Links are single use, expire (30 minutes) and are stored hashed; setting a password
ends every session of that person.
"""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
from aiohttp import web

from services.ingest.records import reset_email
from shared import audit, fields
from shared.auth import accounts, state
from shared.auth.caller import client_ip
from shared.auth.passwords import broken_rules, hash_password
from shared.problems import InvalidInput, NotFound
from shared.web import REDIS, SETTINGS, request_pool

REQUESTS_PER_WINDOW = 3  # links per address per window; more are dropped silently
WINDOW_SECONDS = 900
GONE = "This link is not valid: it may have expired or been used. Ask for a new one."


async def request_links(request: web.Request, email: str) -> None:
    """Schedules a link for every active account with this address (none, for an unknown
    one) after the answer; returns at once either way."""
    if not await _within_allowance(request, email):
        return
    pool, ip = request_pool(request), client_ip(request)
    request.app[state.AUTH].background(_issue_links(request.app, pool, ip, email))


async def _within_allowance(request: web.Request, email: str) -> bool:
    key = "beacon:reset:" + hashlib.sha256(email.strip().casefold().encode()).hexdigest()
    redis = request.app[REDIS]
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, WINDOW_SECONDS)
    return int(count) <= REQUESTS_PER_WINDOW


async def _issue_links(app: web.Application, pool: asyncpg.Pool, ip: str, email: str) -> None:
    settings, minutes = app[SETTINGS], app[state.AUTH].config.reset_link_minutes
    async with pool.acquire() as conn:
        for person in await accounts.active_staff_by_email(conn, email):
            async with conn.transaction():
                token = await accounts.create_reset_token(
                    conn, person["school_id"], person["id"], minutes
                )
                await audit.append(
                    conn,
                    school_id=person["school_id"],
                    action="password.reset_requested",
                    subject_type="staff",
                    subject_id=person["id"],
                    ip=ip,
                )
            await reset_email.send(
                settings, reset_email.build(settings, person["email"], token, minutes)
            )


async def set_password(request: web.Request, token: str, password: str) -> None:
    """Raises NotFound for a link that is not (or no longer) valid, InvalidInput naming the
    rules a password breaks."""
    async with request_pool(request).acquire() as conn:
        target = (
            await accounts.reset_target(conn, token)
            if len(token) <= 100 and fields.storable(token)
            else None
        )
        if target is None:
            raise NotFound(GONE)
        school = await accounts.school_access(conn, target["school_id"])
    personal = (target["email"].partition("@")[0], target["first_name"], target["last_name"])
    rules = broken_rules(password, school.policy, school.name, personal)
    if rules:
        raise InvalidInput(
            f"The password breaks these rules: {', '.join(rules)}.", field="password", rules=rules
        )
    stored = await asyncio.to_thread(hash_password, password)
    async with request_pool(request).acquire() as conn, conn.transaction():
        staff_id = await accounts.use_reset_token(conn, token)
        if staff_id is None:  # used by a concurrent request in the meantime
            raise NotFound(GONE)
        await accounts.set_password_hash(conn, target["school_id"], staff_id, stored)
        await audit.append(
            conn,
            school_id=target["school_id"],
            actor_staff_id=staff_id,
            action="password.set",
            subject_type="staff",
            subject_id=staff_id,
            ip=client_ip(request),
        )
    await state.sessions(request).end_all(staff_id)
