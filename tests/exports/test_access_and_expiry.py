"""Who may export (elevated DSL/SLT only; an API key is told it needs a staff session), what is
audited (asking, downloading, expiry), and expiry: the file goes, the row stays."""

from __future__ import annotations

import json
import os
from html import unescape

from services.worker.exports import passes
from shared.auth.sessions import COOKIE
from tests.exports.conftest import download, elevate, export_done, signed_in

CHRONOLOGY = {"kind": "chronology", "format": "pdf"}


async def audit_rows(pg, action):
    return await pg.fetch("SELECT * FROM audit_log WHERE action = $1 ORDER BY seq", action)


async def test_an_api_key_is_told_exports_need_a_staff_session(client, school, dsl, drain):
    r = await client.post("/v1/pupils/P0001/exports", json=CHRONOLOGY, headers=school.headers)
    assert r.status == 403
    assert "staff session" in (await r.json())["detail"]
    r = await client.post(
        f"/v1/schools/{school.id}/reports", json={"kind": "ofsted"}, headers=school.headers
    )
    assert r.status == 403
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", CHRONOLOGY)
    for path in (f"/v1/exports/{done['id']}", done["file"]):
        r = await client.get(path, headers=school.headers)
        assert r.status == 403, path


async def test_teachers_get_not_found_and_an_unelevated_dsl_is_asked_to_elevate(
    client, school, dsl, drain
):
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", CHRONOLOGY)
    teacher = await signed_in(client, school, "S06")  # teaches P0001's class
    pastoral = await elevate(await signed_in(client, school, "S03"))
    for who in (teacher, pastoral):
        for method, path, body in (
            ("POST", "/v1/pupils/P0001/exports", CHRONOLOGY),
            ("POST", f"/v1/schools/{school.id}/reports", {"kind": "ofsted"}),
            ("GET", f"/v1/exports/{done['id']}", None),
            ("GET", done["file"], None),
        ):
            r = await who.request(method, path, body)
            assert r.status == 404, (path, await r.text())
    unelevated = await signed_in(client, school, "S05")  # a deputy DSL, not elevated yet
    r = await unelevated.request("POST", "/v1/pupils/P0001/exports", CHRONOLOGY)
    assert r.status == 401 and "Elevate" in (await r.json())["detail"]
    r = await unelevated.request("GET", done["file"])
    assert r.status == 401
    for path in (f"/exports/{done['id']}", "/reports", "/pupils/P0001/export"):
        r = await client.get(
            path, headers={"Cookie": f"{COOKIE}={unelevated.cookie}"}, allow_redirects=False
        )
        assert r.status == 303 and r.headers["Location"].startswith("/elevate?next="), path
        r = await client.get(
            path, headers={"Cookie": f"{COOKIE}={teacher.cookie}"}, allow_redirects=False
        )
        assert r.status == 404, path
    other_school = await client.post(
        "/v1/schools/00000000-0000-0000-0000-000000000000/reports",
        json={"kind": "ofsted"},
        headers={"X-CSRF-Token": dsl.csrf, "Cookie": f"{COOKIE}={dsl.cookie}"},
    )
    assert other_school.status == 404


async def test_asking_downloading_and_expiry_are_audited_and_expiry_keeps_the_row(
    dsl, drain, pg, settings, school, tmp_path
):
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", CHRONOLOGY)
    [asked] = await audit_rows(pg, "export.request")
    assert asked["actor_staff_id"] == school.staff["S04"] and asked["subject_id"] == done["id"]
    detail = json.loads(asked["detail"])
    assert detail["kind"] == "chronology" and detail["pupil"] == "P0001"
    assert len(detail["incidents"]) == 3
    await download(dsl, done)
    await download(dsl, done)
    downloads = await audit_rows(pg, "export.download")
    assert len(downloads) == 2 and json.loads(downloads[0]["detail"])["filename"].startswith(
        "chronology-P0001-"
    )
    row = await pg.fetchrow("SELECT * FROM exports WHERE id = $1", done["id"])
    assert row["download_count"] == 2 and row["downloaded_at"] is not None

    # The same export stored on disk, then past its time.
    path = tmp_path / "export.pdf"
    path.write_bytes(bytes(row["data"]))
    await pg.execute(
        "UPDATE exports SET data = NULL, stored_path = $2, expires_at = now() WHERE id = $1",
        row["id"],
        str(path),
    )
    assert await passes.expire_files(pg) == 1
    assert not os.path.exists(path)
    kept = await pg.fetchrow("SELECT * FROM exports WHERE id = $1", row["id"])
    assert kept["state"] == "expired" and kept["expired_at"] is not None
    assert kept["data"] is None and kept["stored_path"] is None
    assert kept["filename"] == row["filename"] and kept["requested_by"] == school.staff["S04"]
    [expired] = await audit_rows(pg, "export.expire")
    assert expired["subject_id"] == str(row["id"]) or str(expired["subject_id"]) == str(row["id"])
    assert await passes.expire_files(pg) == 0  # once only
    r = await dsl.request("GET", done["file"])
    assert r.status == 410
    r = await dsl.request("GET", f"/v1/exports/{done['id']}")
    assert (await r.json())["state"] == "expired" and "file" not in await r.json()
    page = unescape(await (await client_get(dsl, f"/exports/{done['id']}")).text())
    assert "has expired" in page


async def client_get(browser, path):
    return await browser.client.get(
        path, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )


async def test_the_page_shows_progress_until_done_then_the_link(dsl, drain, school):
    r = await dsl.request("POST", "/v1/pupils/P0001/exports", CHRONOLOGY)
    export = await r.json()
    page = await client_get(dsl, f"/exports/{export['id']}")
    html = await page.text()
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    # No page that reloads itself (a screen reader would start again at the top): a link to
    # check again, which beacon.js follows in place.
    assert 'http-equiv="refresh"' not in html and "Refresh" not in page.headers
    check_again = f'<a class="govuk-link" id="export-check" href="/exports/{export["id"]}">'
    assert check_again + "Check again" in html
    assert '<progress class="beacon-progress" id="export-progress" max="100" value="0"' in html
    assert '<label class="govuk-label govuk-label--s" for="export-progress"' in html
    await drain()
    html = await (await client_get(dsl, f"/exports/{export['id']}")).text()
    assert 'http-equiv="refresh"' not in html and "<progress" not in html
    assert f'href="/exports/{export["id"]}/file"' in html
    r = await client_get(dsl, f"/exports/{export['id']}/file")
    assert r.status == 200 and r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_chronology_form_and_the_reports_page(dsl, drain, school, client):
    html = unescape(await (await client_get(dsl, "/pupils/P0001")).text())
    assert 'href="/pupils/P0001/export"' in html
    form = unescape(await (await client_get(dsl, "/pupils/P0001/export")).text())
    third = school.recorded["third"]
    assert f'value="{third.id}"' in form and 'name="staff_names"' in form
    data = {"csrf_token": dsl.csrf, "format": "pdf", "staff_names": "no", "entries": str(third.id)}
    r = await dsl.client.post(
        "/pupils/P0001/export",
        data=data,
        headers={"Cookie": f"{COOKIE}={dsl.cookie}"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"].startswith("/exports/")
    export_id = r.headers["Location"].rsplit("/", 1)[1]
    await drain()
    r = await dsl.request("GET", f"/v1/exports/{export_id}")
    assert (await r.json())["state"] == "done"
    reports = unescape(await (await client_get(dsl, "/reports")).text())
    assert "Make the Ofsted pack" in reports and f'href="/exports/{export_id}"' in reports
    r = await dsl.client.post(
        "/reports",
        data={"csrf_token": dsl.csrf, "kind": "ofsted"},
        headers={"Cookie": f"{COOKIE}={dsl.cookie}"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"].startswith("/exports/")
    r = await dsl.client.post(
        "/reports",
        data={
            "csrf_token": dsl.csrf,
            "kind": "governors",
            "from": "2026-12-01",
            "to": "2026-09-01",
        },
        headers={"Cookie": f"{COOKIE}={dsl.cookie}"},
        allow_redirects=False,
    )
    assert r.status == 400 and "There is a problem" in await r.text()


async def test_a_queued_export_redis_lost_is_rung_again(dsl, drain, pg, redis_url, settings):
    from arq.constants import job_key_prefix

    from shared import queue

    r = await dsl.request("POST", "/v1/pupils/P0001/exports", CHRONOLOGY)
    export = await r.json()
    redis = await queue.connect(redis_url)
    try:
        job = queue.export_job_id(export["id"])  # Redis lost the doorbell (not the sessions)
        await redis.delete(job_key_prefix + job)
        await redis.zrem(queue.WORKER_QUEUE, job)
        assert await drain() == 0
        await pg.execute("UPDATE exports SET created_at = now() - interval '1 minute'")
        result = await passes.export_pass(settings, pg, redis)
        assert result.rung == 1
    finally:
        await redis.aclose()
    await drain()
    r = await dsl.request("GET", f"/v1/exports/{export['id']}")
    assert (await r.json())["state"] == "done"
