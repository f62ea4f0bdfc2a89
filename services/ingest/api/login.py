"""POST/DELETE /v1/session and POST /v1/session/elevate: shared.auth.signin's steps as JSON."""

from __future__ import annotations

from aiohttp import web

from services.ingest.api import forms
from shared.auth import signin
from shared.auth.caller import session
from shared.auth.passwords import MAX_LENGTH
from shared.auth.sessions import clear_cookie, set_cookie


async def post_session(request: web.Request) -> web.Response:
    body = await forms.json_object(request)
    email = forms.text(body, "email", 320)
    password = forms.text(body, "password", MAX_LENGTH)
    code = forms.text(body, "code", 10, required=False)
    return _session_response(await signin.sign_in(request, email, password, code), status=201)


async def delete_session(request: web.Request) -> web.Response:
    await signin.sign_out(request, await session(request, allow_enrol_only=True))
    response = web.Response(status=204)
    clear_cookie(response)
    return response


async def post_elevate(request: web.Request) -> web.Response:
    s = await session(request)
    code = forms.text(await forms.json_object(request), "code", 10)
    return _session_response(await signin.elevate(request, s, code), status=200)


def _session_response(done: signin.SignedIn, status: int) -> web.Response:
    s = done.session
    response = web.json_response(
        {
            "staff": done.external_id,
            "csrf_token": s.csrf_token,
            "elevated": s.elevated,
            "enrol_only": s.enrol_only,
        },
        status=status,
    )
    set_cookie(response, s)
    return response
