"""File attachments: size limit, sniffed type, always served as an attachment."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest

from tests.ingest.conftest import incident
from tests.support.world import seed_school

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def form(
    data: bytes,
    filename: str = "scan.pdf",
    author: str | None = "S04",
    content_type: str = "text/html",
) -> aiohttp.FormData:
    f = aiohttp.FormData()
    if author is not None:
        f.add_field("author", author)
    f.add_field("file", data, filename=filename, content_type=content_type)
    return f


async def _incident(client, school) -> str:
    r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
    return r.headers["Location"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 8, "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"<script>alert(1)</script>\n", "text/plain; charset=utf-8"),
        (b"\x00\x01\x02\x03binary", "application/octet-stream"),
    ],
)
async def test_upload_sniffs_type_and_download_is_an_attachment(client, school, pg, data, expected):
    location = await _incident(client, school)
    r = await client.post(
        location + "/files", data=form(data, 'a"b/../evil.html'), headers=school.headers
    )
    assert r.status == 201, await r.text()
    meta = await r.json()
    assert meta["content_type"] == expected
    assert meta["size_bytes"] == len(data)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert "/" not in meta["filename"] and '"' not in meta["filename"]
    r = await client.get(meta["url"], headers=school.headers)
    assert r.status == 200
    assert await r.read() == data
    assert r.headers["Content-Type"].startswith(expected.split(";")[0])
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    incident_json = await (await client.get(location, headers=school.headers)).json()
    assert [f["id"] for f in incident_json["files"]] == [meta["id"]]


async def test_files_can_live_in_a_directory(start_app, pg, tmp_path):
    async with start_app(files_dir=str(tmp_path)) as client:
        school = await seed_school(pg, "Riverside Primary")
        location = await _incident(client, school)
        r = await client.post(location + "/files", data=form(PNG), headers=school.headers)
        assert r.status == 201
        meta = await r.json()
        assert await pg.fetchval("SELECT data FROM incident_files") is None
        assert list(tmp_path.rglob("*"))[-1].read_bytes() == PNG
        r = await client.get(meta["url"], headers=school.headers)
        assert await r.read() == PNG


async def test_oversized_file_is_413_and_nothing_stored(start_app, pg):
    async with start_app(max_file_bytes=2048) as client:
        school = await seed_school(pg, "Riverside Primary")
        location = await _incident(client, school)
        r = await client.post(location + "/files", data=form(b"a" * 4096), headers=school.headers)
        assert r.status == 413
        assert r.content_type == "application/problem+json"
        assert await pg.fetchval("SELECT count(*) FROM incident_files") == 0


@pytest.mark.parametrize(
    ("data", "author", "status", "field"),
    [
        (b"MZ\x90\x00 windows exe", "S04", 415, "file"),
        (b"\x7fELF\x02\x01", "S04", 415, "file"),
        (b"#!/bin/sh\nrm -rf /", "S04", 415, "file"),
        (b"%PDF-1.7", None, 422, "author"),
        (b"%PDF-1.7", "S99", 422, "author"),
    ],
)
async def test_bad_uploads_are_refused(client, school, pg, data, author, status, field):
    location = await _incident(client, school)
    r = await client.post(
        location + "/files", data=form(data, author=author), headers=school.headers
    )
    assert r.status == status
    assert (await r.json())["field"] == field
    assert await pg.fetchval("SELECT count(*) FROM incident_files") == 0


async def test_upload_needs_multipart_and_a_known_incident(client, school):
    location = await _incident(client, school)
    r = await client.post(location + "/files", json={"file": "x"}, headers=school.headers)
    assert r.status == 415
    r = await client.post(
        "/v1/incidents/00000000-0000-0000-0000-000000000000/files",
        data=form(PNG),
        headers=school.headers,
    )
    assert r.status == 404
    r = await client.get(
        location + "/files/00000000-0000-0000-0000-000000000000", headers=school.headers
    )
    assert r.status == 404
