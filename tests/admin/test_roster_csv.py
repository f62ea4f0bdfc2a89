"""The roster from the MIS's CSV files: read as Excel writes them (UTF-8 with or without a BOM,
quoted cells), bad rows named by file and line and left out (their records kept), a preview
that writes nothing, then one import on confirmation (twice changes nothing; leavers signed
out at once), on the API and on /admin/roster."""

from __future__ import annotations

import csv
import io

import pytest

from services.ingest.records.roster_csv import read_upload
from tests.admin.clients import PASSWORD, client, elevated, page, post_form, signed_in
from tests.ingest.conftest import ADMIN
from tests.support.roster import roster
from tests.support.world import seed_school, set_passwords

__all__ = ["client"]


def csv_files(data: dict, bom: bool = False) -> dict[str, bytes]:
    """The roster payload as the MIS's three CSV files (lists joined with '; ')."""
    out = {}
    for table, columns in (
        ("staff", ["id", "email", "first_name", "last_name", "initials", "roles"]),
        ("classes", ["id", "name", "teachers"]),
        ("pupils", ["id", "first_name", "last_name", "date_of_birth", "classes"]),
    ):
        buffer = io.StringIO()
        writer = csv.writer(buffer, dialect="excel")
        writer.writerow(columns)
        for row in data[table]:
            writer.writerow(
                [
                    "; ".join(row[c]) if isinstance(row.get(c), list) else row.get(c) or ""
                    for c in columns
                ]
            )
        out[table] = (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()
    return out


def test_excel_csv_reads_as_the_json_roster():
    data = roster()
    data["pupils"][0]["last_name"] = 'O\'Neil, "Quill"\nfeather'  # quoted: comma, quotes, newline
    upload = read_upload(csv_files(data, bom=True))
    assert upload.bad_rows == []
    assert [s.id for s in upload.roster.staff] == [s["id"] for s in data["staff"]]
    assert upload.roster.staff[0].roles == ["head", "slt"]
    assert upload.roster.pupils[0].last_name == data["pupils"][0]["last_name"]
    assert str(upload.roster.pupils[0].date_of_birth) == "2017-05-01"
    assert upload.roster.classes[0].teachers == ["S06", "S08"]


def test_bad_rows_are_named_by_line_and_left_out():
    files = csv_files(roster())
    files["pupils"] += b"P0009,Nora,,2017-01-01,C3\r\n"  # line 5: no last name
    files["pupils"] += b"P0010,Olly,Owl,31/02/2017,C3\r\n"  # line 6: no such day
    files["classes"] += b"C5,Year 5,S42\r\n"  # line 4: unknown teacher
    files["staff"] = files["staff"].replace(b"ben.senior@school.example", b"not-an-email")
    upload = read_upload(files)
    found = {(b.file, b.line): b.reason for b in upload.bad_rows}
    assert set(found) == {("staff", 3), ("classes", 4), ("pupils", 5), ("pupils", 6)}
    assert "email" in found[("staff", 3)].lower()
    assert "S42" in found[("classes", 4)]
    assert "last_name" in found[("pupils", 5)] and "date" in found[("pupils", 6)]
    # The people the bad rows name are kept as they are, never made inactive.
    assert upload.roster.keep["staff"] == ["S02"]
    assert "S02" not in {s.id for s in upload.roster.staff}


def test_missing_columns_and_files_are_named():
    files = csv_files(roster())
    files["staff"] = b"id,email\r\nS01,a@b.example\r\n"
    del files["pupils"]
    reasons = {b.file: b.reason for b in read_upload(files).bad_rows}
    assert "first_name" in reasons["staff"] and "pupils.csv" in reasons["pupils"]
    assert "UTF-8" in read_upload({**files, "classes": b"id,name\r\n\xff\xfe"}).bad_rows[1].reason


@pytest.fixture
async def school(pg):
    async with pg.acquire() as conn:
        s = await seed_school(conn)
        await set_passwords(conn, s, PASSWORD)
    return s


async def _snapshot(pg):
    rows = await pg.fetch(
        """SELECT 'staff', external_id, roles::text, active, xmin::text FROM staff
           UNION ALL SELECT 'pupils', external_id, last_name, active, xmin::text FROM pupils
           UNION ALL SELECT 'classes', external_id, name, active, xmin::text FROM classes
           ORDER BY 1, 2"""
    )
    return [tuple(r) for r in rows]


async def test_preview_writes_nothing_and_confirm_imports_once(client, school, pg):
    data = roster()
    data["staff"] = [s for s in data["staff"] if s["id"] != "S07"]  # a leaver
    data["classes"][1]["teachers"] = ["S06"]
    data["pupils"][1]["last_name"] = "Moonbeam-Hart"
    data["pupils"].append(
        {
            "id": "P0004",
            "first_name": "Wren",
            "last_name": "Ash",
            "date_of_birth": None,
            "classes": ["C4"],
        }
    )
    files = csv_files(data)
    files["pupils"] += b"P0005,Bad,Date,2017-99-01,C4\r\n"
    leaver = await signed_in(client, school.emails["S07"])
    before = await _snapshot(pg)
    url = f"/v1/schools/{school.id}/roster"
    r = await client.post(f"{url}/preview", data=_multipart(files), headers=ADMIN)
    assert r.status == 200, await r.text()
    preview = await r.json()
    assert await _snapshot(pg) == before
    assert [p["id"] for p in preview["pupils"]["added"]] == ["P0004"]
    assert preview["pupils"]["changed"] == [
        {"id": "P0002", "name": "Yannick Moonbeam-Hart", "fields": ["last_name"]}
    ]
    assert [s["id"] for s in preview["staff"]["inactive"]] == ["S07"]
    assert preview["classes"]["changed"][0]["fields"] == ["teachers"]
    assert preview["bad_rows"] == [
        {"file": "pupils", "line": 6, "reason": preview["bad_rows"][0]["reason"]}
    ]
    r = await client.post(f"{url}/confirm", json={"token": preview["token"]}, headers=ADMIN)
    assert r.status == 200, await r.text()
    assert await pg.fetchval("SELECT active FROM staff WHERE external_id = 'S07'") is False
    assert (await leaver.request("GET", "/v1/me/totp")).status == 401  # signed out at once
    # The token is spent; the same files again preview no change and import none.
    r = await client.post(f"{url}/confirm", json={"token": preview["token"]}, headers=ADMIN)
    assert r.status == 404
    after = await _snapshot(pg)
    r = await client.post(f"{url}/preview", data=_multipart(files), headers=ADMIN)
    again = await r.json()
    assert all(
        again[t] == {"added": [], "changed": [], "inactive": []}
        for t in ("staff", "classes", "pupils")
    )
    r = await client.post(f"{url}/confirm", json={"token": again["token"]}, headers=ADMIN)
    assert r.status == 200
    assert await _snapshot(pg) == after


async def test_a_preview_is_confirmed_only_by_whoever_made_it(client, school):
    admin = await elevated(client, school.emails["S09"])
    files = csv_files(roster())
    r = await client.post(
        f"/v1/schools/{school.id}/roster/preview", data=_multipart(files), headers=ADMIN
    )
    token = (await r.json())["token"]
    r = await admin.request("POST", f"/v1/schools/{school.id}/roster/confirm", {"token": token})
    assert r.status == 404


async def test_the_roster_page_previews_then_imports(client, school, pg):
    admin = await elevated(client, school.emails["S09"])
    r = await page(admin, "/admin/roster")
    assert r.status == 200 and 'type="file"' in await r.text()
    data = roster()
    data["pupils"] = data["pupils"][:2]
    files = csv_files(data)
    files["staff"] += b"S10,jo.new@school.example,Jo,,JN,teacher\r\n"
    before = await _snapshot(pg)
    r = await post_form(admin, "/admin/roster", files=files)
    assert r.status == 200, await r.text()
    html = await r.text()
    assert "Xanthe Larkspur (P0003)" in html  # made inactive
    assert "staff.csv" in html and "last_name" in html  # the bad row, line 11
    assert await _snapshot(pg) == before
    token = html.split('name="token" value="')[1].split('"')[0]
    r = await post_form(admin, "/admin/roster/confirm", {"token": token})
    assert r.status == 303 and r.headers["Location"] == "/admin/roster?imported=1"
    assert await pg.fetchval("SELECT active FROM pupils WHERE external_id = 'P0003'") is False
    # Without the form's CSRF token nothing is imported.
    r = await post_form(admin, "/admin/roster", files=files)
    token = (await r.text()).split('name="token" value="')[1].split('"')[0]
    admin.csrf = "wrong"
    r = await post_form(admin, "/admin/roster/confirm", {"token": token})
    assert r.status == 403


def _multipart(files: dict[str, bytes]):
    import aiohttp

    form = aiohttp.FormData()
    for name, content in files.items():
        form.add_field(name, content, filename=f"{name}.csv", content_type="text/csv")
    return form
