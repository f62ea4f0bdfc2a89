"""Enrolling, listing and removing authenticator devices.

A first device is enrolled with the password alone (there is nothing else to prove); any later
one needs an elevated session, so a stolen password cannot add the thief's phone.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from services.ingest.api import forms
from shared import access, audit, fields
from shared.auth import state, totp
from shared.auth.caller import Caller, caller, client_ip, session, viewer
from shared.auth.sessions import set_cookie
from shared.database import Connection
from shared.problems import Forbidden, InvalidInput, NotFound
from shared.web import request_pool


async def post_enrol(request: web.Request) -> web.Response:
    s = await session(request, allow_enrol_only=True)
    box = request.app[state.AUTH].box
    async with request_pool(request).acquire() as conn:
        if await totp.has_device(conn, s.staff_id) and not s.elevated:
            raise Forbidden("Elevate access first to add another authenticator.")
        email = await conn.fetchval("SELECT email FROM staff WHERE id = $1", s.staff_id)
        enrolment = await totp.start_enrolment(conn, box, s.school_id, s.staff_id)
        await _audit(
            conn,
            s.school_id,
            s.staff_id,
            "totp.enrol_started",
            s.staff_id,
            client_ip(request),
            enrolment.device_id,
        )
    uri = totp.provisioning_uri(enrolment.secret, email)
    return web.json_response(
        {"secret": enrolment.secret, "provisioning_uri": uri, "qr_svg": totp.qr_svg(uri)},
        status=201,
    )


async def post_confirm(request: web.Request) -> web.Response:
    s = await session(request, allow_enrol_only=True)
    body = await forms.json_object(request)
    code = forms.text(body, "code", 10)
    name = forms.text(body, "device_name", 100, required=False, default="Authenticator")
    async with request_pool(request).acquire() as conn:
        device = await totp.confirm_enrolment(
            conn,
            request.app[state.AUTH].box,
            s.school_id,
            s.staff_id,
            code,
            name.strip() or "Authenticator",
        )
        if device is None:
            raise InvalidInput("The code is not right, or the enrolment has expired.", field="code")
        await _audit(
            conn,
            s.school_id,
            s.staff_id,
            "totp.device_added",
            s.staff_id,
            client_ip(request),
            device,
        )
    response = web.Response(status=204)
    if s.enrol_only:  # the first code proves the second factor: a full, elevated session now
        set_cookie(
            response, await state.sessions(request).rotate(s, enrol_only=False, elevated=True)
        )
    return response


async def get_my_devices(request: web.Request) -> web.Response:
    s = await session(request)
    async with request_pool(request).acquire() as conn:
        rows = await totp.list_devices(conn, s.staff_id)
    return web.json_response(
        [
            {
                "id": str(r["id"]),
                "name": r["name"],
                "confirmed_at": r["confirmed_at"].isoformat(),
                "last_used_at": _iso(r["last_used_at"]),
            }
            for r in rows
        ]
    )


async def delete_device(request: web.Request) -> web.Response:
    who = await caller(request)
    if who.session is None:
        raise Forbidden("Only a member of staff, signed in, can remove a device.")
    async with request_pool(request).acquire() as conn:
        target = await conn.fetchval(
            "SELECT id FROM staff WHERE school_id = $1 AND external_id = $2",
            who.school_id,
            fields.path_key(request.match_info["staff"], "device"),
        )
        device_id = _uuid(request.match_info["device_id"])
        owner = await _remove(conn, who, target, device_id, client_ip(request))
    # A removed authenticator is often a lost phone: whoever has it may be signed in as them.
    await state.sessions(request).end_all(owner)
    return web.Response(status=204)


async def _remove(
    conn: Connection, who: Caller, target: uuid.UUID | None, device_id: uuid.UUID, ip: str
) -> uuid.UUID:
    """Removes the device; its owner."""
    v = await viewer(conn, who)
    if target is None or not access.can_manage_devices(v, who.school_id, target):
        raise NotFound("No such device.")
    if not await totp.remove_device(conn, who.school_id, target, device_id):
        raise NotFound("No such device.")
    await _audit(conn, who.school_id, who.staff_id, "totp.device_removed", target, ip, device_id)
    return target


async def _audit(
    conn: Connection,
    school_id: uuid.UUID,
    actor: uuid.UUID | None,
    action: str,
    staff_id: uuid.UUID,
    ip: str,
    device_id: uuid.UUID,
) -> None:
    await audit.append(
        conn,
        school_id=school_id,
        actor_staff_id=actor,
        action=action,
        subject_type="staff",
        subject_id=staff_id,
        ip=ip,
        detail={"device": str(device_id)},
    )


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("No such device.") from None


def _iso(value: object) -> str | None:
    return None if value is None else value.isoformat()  # type: ignore[attr-defined]
