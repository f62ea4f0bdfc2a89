"""Setting a password through an emailed one-time link (new staff and forgotten passwords).

The request always answers 202 at once, whether or not the address exists, and the email goes
out after the response. Links are single use, expire (30 minutes) and are stored hashed.
"""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from services.ingest.api import forms, reset_email
from shared import audit, fields
from shared.auth import accounts, state
from shared.auth.caller import client_ip
from shared.auth.passwords import MAX_LENGTH, broken_rules, hash_password
from shared.problems import InvalidInput, NotFound
from shared.web import REDIS, SETTINGS, request_pool

REQUESTS_PER_WINDOW = 3  # links per address per window; more are dropped silently
WINDOW_SECONDS = 900
GONE = "This link is not valid: it may have expired or been used. Ask for a new one."


async def post_reset_request(request: web.Request) -> web.Response:
    email = forms.text(await forms.json_object(request), "email", 320)
    if await _within_allowance(request, email):
        await _issue_links(request, email)
    return web.json_response({}, status=202)


async def _within_allowance(request: web.Request, email: str) -> bool:
    key = "beacon:reset:" + hashlib.sha256(email.strip().casefold().encode()).hexdigest()
    redis = request.app[REDIS]
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, WINDOW_SECONDS)
    return int(count) <= REQUESTS_PER_WINDOW


async def _issue_links(request: web.Request, email: str) -> None:
    staff_state, settings = request.app[state.AUTH], request.app[SETTINGS]
    minutes = staff_state.config.reset_link_minutes
    async with request_pool(request).acquire() as conn:
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
                    ip=client_ip(request),
                )
            message = reset_email.build(settings, person["email"], token, minutes)
            staff_state.background(reset_email.send(settings, message))


async def post_reset(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    password = forms.text(await forms.json_object(request), "password", MAX_LENGTH * 4)
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
    return web.Response(status=204)
