"""Signing in (and back to where the link pointed), out, elevating, enrolling an authenticator,
keeping a session alive and blanking the screen: forms that work without JavaScript, over the
same shared.auth steps as the JSON API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.ingest.records import password_reset
from services.ingest.web import guard
from services.ingest.web.rendering import render
from shared import audit, fields
from shared.auth import signin, state, totp
from shared.auth.caller import client_ip
from shared.auth.passwords import MAX_LENGTH
from shared.auth.sessions import Session, clear_cookie, set_cookie
from shared.problems import InvalidInput, NotFound, Problem
from shared.web import request_pool

POLICY_TEXT = "At least 8 characters, with lower and upper case letters, a digit and a symbol."


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/login", login_page)
    r.add_post("/login", login_form)
    r.add_post("/logout", logout)
    r.add_get("/elevate", elevate_page)
    r.add_post("/elevate", elevate_form)
    r.add_get("/enrol", enrol_page)
    r.add_post("/enrol", enrol_start)
    r.add_post("/enrol/confirm", enrol_confirm)
    r.add_post("/session/keep-alive", keep_alive)
    r.add_get("/blank", blank_page)
    r.add_get("/reset", reset_request_page)
    r.add_post("/reset", reset_request_form)
    r.add_get("/reset/{token}", reset_page)
    r.add_post("/reset/{token}", reset_form)


async def login_page(request: web.Request) -> web.Response:
    ended = "ended" in request.query
    return _login(request, {"ended": ended, "next": guard.safe_next(request.query.get("next"))})


def _login(request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    base = {"email": "", "ask_code": False, "ended": False, "next": "/"}
    return render(request, "login.html", {**base, **context}, status=status)


async def login_form(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email, password = _field(form, "email", 320), _field(form, "password", MAX_LENGTH)
    code, target = _field(form, "code", 10), guard.safe_next(_field(form, "next", 500))
    errors = {}
    if not email:
        errors["email"] = "Enter your school email address"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 (a message, not a secret)
    context = {"email": email, "next": target, "ask_code": bool(code)}
    if not errors:
        try:
            done = await signin.sign_in(request, email, password, code)
        except Problem as p:
            asks = bool(p.extra.get("totp_required"))
            field = "code" if asks and code else "email"
            errors[field] = p.detail
            context["ask_code"] = asks
            if p.status == 429:
                return _login(request, {**context, **_errors(errors)}, status=429)
        else:
            raise _signed_in(done.session, "/enrol" if done.session.enrol_only else target)
    return _login(request, {**context, **_errors(errors)}, status=400)


def _signed_in(s: Session, target: str) -> web.HTTPSeeOther:
    response = web.HTTPSeeOther(target)
    set_cookie(response, s)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    s = await guard.current_session(request)
    if s is not None:
        guard.check_form(await request.post(), s)
        await signin.sign_out(request, s)
    response = web.HTTPSeeOther("/login")
    clear_cookie(response)
    raise response


async def elevate_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    target = guard.safe_next(request.query.get("next"))
    return render(request, "elevate.html", {"next": target, "code": ""}, s)


async def elevate_form(request: web.Request) -> web.StreamResponse:
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    code, target = _field(form, "code", 10), guard.safe_next(_field(form, "next", 500))
    if not code:
        problem = "Enter the 6-digit code from your authenticator app"
    else:
        try:
            done = await signin.elevate(request, s, code)
        except Problem as p:
            problem = p.detail
        else:
            raise _signed_in(done.session, target)
    context = {"next": target, "code": "", **_errors({"code": problem})}
    return render(request, "elevate.html", context, s, status=400)


async def enrol_page(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    async with request_pool(request).acquire() as conn:
        devices = await totp.list_devices(conn, s.staff_id)
    return render(request, "enrol.html", {"devices": devices, "enrolment": None}, s)


async def enrol_start(request: web.Request) -> web.Response:
    s = await guard.staff_session(request)
    guard.check_form(await request.post(), s)
    box = request.app[state.AUTH].box
    async with request_pool(request).acquire() as conn:
        if await totp.has_device(conn, s.staff_id) and not s.elevated:
            raise web.HTTPSeeOther("/elevate?next=/enrol")
        email = await conn.fetchval("SELECT email FROM staff WHERE id = $1", s.staff_id)
        enrolment = await totp.start_enrolment(conn, box, s.school_id, s.staff_id)
        await _audit(request, conn, s, "totp.enrol_started", str(enrolment.device_id))
    uri = totp.provisioning_uri(enrolment.secret, email)
    qr = "data:image/svg+xml;charset=utf-8," + quote(totp.qr_svg(uri))
    shown = {"secret": enrolment.secret, "qr": qr}
    return render(request, "enrol.html", {"devices": [], "enrolment": shown}, s)


async def enrol_confirm(request: web.Request) -> web.StreamResponse:
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    code = _field(form, "code", 10)
    name = _field(form, "device_name", 100) or "Authenticator"
    async with request_pool(request).acquire() as conn:
        box = request.app[state.AUTH].box
        device = await totp.confirm_enrolment(conn, box, s.school_id, s.staff_id, code, name)
        if device is None:
            context: dict[str, Any] = {"devices": [], "enrolment": None}
            errors = {"code": "The code is not right, or the set-up has expired: start again"}
            return render(request, "enrol.html", {**context, **_errors(errors)}, s, 400)
        await _audit(request, conn, s, "totp.device_added", str(device))
    target = "/" if s.enrol_only else "/enrol"
    response = web.HTTPSeeOther(target)
    if s.enrol_only:  # the first code proves the second factor: a full, elevated session now
        new = await state.sessions(request).rotate(s, enrol_only=False, elevated=True)
        set_cookie(response, new)
    raise response


async def keep_alive(request: web.Request) -> web.StreamResponse:
    """Any signed-in request restarts the idle timer; this one only does that."""
    s = await guard.staff_session(request)
    form = await request.post()
    guard.check_form(form, s)
    raise web.HTTPSeeOther(guard.safe_next(_field(form, "next", 500)))


async def blank_page(request: web.Request) -> web.Response:
    """Without JavaScript, Blank screen is this empty page; one link brings the page back."""
    back = guard.safe_next(request.query.get("next"))
    return render(request, "blank.html", {"back": back})


async def reset_request_page(request: web.Request) -> web.Response:
    return render(request, "reset_request.html", {"email": "", "sent": False})


async def reset_request_form(request: web.Request) -> web.Response:
    """The same answer for any address, known or not (the link goes out after it)."""
    email = _field(await request.post(), "email", 320)
    if not email:
        errors = {"email": "Enter your school email address"}
        return render(
            request,
            "reset_request.html",
            {"email": "", "sent": False, **_errors(errors)},
            status=400,
        )
    await password_reset.request_links(request, email)
    return render(request, "reset_request.html", {"email": "", "sent": True})


async def reset_page(request: web.Request) -> web.Response:
    # The rules shown are the default policy's; a school's own rules are named if broken.
    token = request.match_info["token"]
    return render(request, "reset.html", {"token": token, "rules": POLICY_TEXT, "done": False})


async def reset_form(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    form = await request.post()
    password, again = _field(form, "password", MAX_LENGTH), form.get("again", "")
    errors: dict[str, str] = {}
    if not password:
        errors["password"] = "Enter a new password"  # noqa: S105 (a message, not a secret)
    elif password != again:
        errors["again"] = "The two passwords are not the same"
    else:
        try:
            await password_reset.set_password(request, token, password)
        except InvalidInput as p:
            errors["password"] = p.detail
        except NotFound as p:
            errors["password"] = p.detail
    context = {"token": token, "rules": POLICY_TEXT, "done": not errors}
    return render(
        request, "reset.html", {**context, **_errors(errors)}, status=400 if errors else 200
    )


def _field(form: Any, name: str, max_length: int) -> str:
    value = form.get(name, "")
    if not isinstance(value, str) or (name != "password" and not fields.storable(value)):
        return ""  # NUL or a lone surrogate would fail in the driver: treat it as not given
    return value.strip()[: max_length * 4] if name != "password" else value[: max_length * 4]


def _errors(errors: dict[str, str]) -> dict[str, Any]:
    return {"errors": errors, "error_list": list(errors.items())}


async def _audit(request: web.Request, conn: Any, s: Session, action: str, device: str) -> None:
    await audit.append(
        conn,
        school_id=s.school_id,
        actor_staff_id=s.staff_id,
        action=action,
        subject_type="staff",
        subject_id=s.staff_id,
        ip=client_ip(request),
        detail={"device": device},
    )
