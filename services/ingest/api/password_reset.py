"""POST /v1/password-reset and /v1/password-reset/{token}: records.password_reset as JSON."""

from __future__ import annotations

from aiohttp import web

from services.ingest.api import forms
from services.ingest.records import password_reset
from shared.auth.passwords import MAX_LENGTH


async def post_reset_request(request: web.Request) -> web.Response:
    email = forms.text(await forms.json_object(request), "email", 320)
    await password_reset.request_links(request, email)
    return web.json_response({}, status=202)


async def post_reset(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    password = forms.text(await forms.json_object(request), "password", MAX_LENGTH * 4)
    await password_reset.set_password(request, token, password)
    return web.Response(status=204)
