"""The HTML pages: safe headers, no password saving, and no page without a session."""

import pytest

from tests.staff.client import staff_app


@pytest.fixture
async def client(settings):
    async with staff_app(settings) as c:
        yield c


@pytest.mark.parametrize("path", ["/login", "/reset", "/reset/some-token"])
async def test_public_pages_are_not_cached_framed_or_referred(client, path):
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    assert "<script>" not in html  # no inline script: the CSP would block it anyway


async def test_login_form_tells_the_browser_not_to_save_the_password(client):
    html = await (await client.get("/login")).text()
    assert '<form method="post" action="/login" novalidate autocomplete="off">' in html
    assert (
        'id="password" name="password" type="password" value="" autocomplete="new-password"' in html
    )


async def test_reset_page_escapes_the_token(client):
    html = await (await client.get('/reset/"><img src=x>')).text()
    assert '"><img' not in html and "&#34;&gt;&lt;img" in html


@pytest.mark.parametrize("path", ["/", "/enrol", "/elevate", "/alerts/some-alert-id"])
async def test_signed_in_pages_send_strangers_to_login(client, path):
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].split("?")[0] == "/login"
