"""A pupil's chronology as a case-conference PDF or CSV: asked for by an elevated DSL, made by
the worker, downloaded as an attachment."""

from __future__ import annotations

import csv
import io
import re

from tests.exports.conftest import download, export_done, pdf_pages


async def test_chronology_pdf_from_request_to_download(dsl, drain, school, smtp_sink):
    done = await export_done(
        dsl, drain, "/v1/pupils/P0001/exports", {"kind": "chronology", "format": "pdf"}
    )
    assert done["progress"] == 100 and done["file"] == f"/v1/exports/{done['id']}/file"
    response, data = await download(dsl, done)
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="chronology-P0001-')
    assert "Zephyrine" not in disposition and "Quillfeather" not in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    pages = pdf_pages(data)
    text = "\n".join(pages)
    for n, page in enumerate(pages, 1):
        assert page.count("OFFICIAL-SENSITIVE") >= 1, n
        assert f"Page {n} of {len(pages)}" in page
    assert "Zephyrine Quillfeather" in text and "P0001" in text and "1 May 2017" in text
    assert "Oakfield Primary" in text
    order = [text.index(m) for m in ("FirstMarker", "SecondMarker", "ThirdMarker")]
    assert order == sorted(order)
    assert "FirstAction" in text and "SecondAction" in text
    assert "OtherPupilMarker" not in text
    assert "Dan Lead" in text and "Finn Teacher" in text


async def test_without_staff_names_people_are_their_roles(dsl, drain):
    body = {"kind": "chronology", "format": "pdf", "staff_names": False}
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", body)
    text = "\n".join(pdf_pages((await download(dsl, done))[1]))
    assert "FirstMarker" in text and "SecondAction" in text
    for name in ("Dan Lead", "Finn Teacher", "Ben Senior", "Gail Teacher", "Lead", "Senior"):
        assert name not in text, name
    assert "DSL" in text and "Teacher" in text


async def test_the_dsl_picks_entries_and_a_range(dsl, drain, school):
    first, third = school.recorded["first"], school.recorded["third"]
    body = {
        "kind": "chronology",
        "format": "csv",
        "from": "2026-10-06",
        "to": "2026-12-31",
        "entries": [str(third.id)],
    }
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", body)
    response, data = await download(dsl, done)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="chronology-P0001-\d{4}-\d\d-\d\d\.csv"',
        response.headers["Content-Disposition"],
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [
        "date",
        "kind",
        "incident",
        "categories",
        "description",
        "recorded_by",
        "agencies",
    ]
    assert [r[4] for r in rows[1:]] == ["ThirdMarker"]
    assert rows[1][6] == "Children's social care"
    # An entry outside the range (or not this pupil's) cannot be picked.
    body["entries"] = [str(first.id)]
    r = await dsl.request("POST", "/v1/pupils/P0001/exports", body)
    assert r.status == 422 and (await r.json())["field"] == "entries"


async def test_a_category_filter_and_csv_cells_that_are_not_formulas(dsl, drain, pg, school):
    from tests.support.world import record_incident

    async with pg.acquire() as conn:
        await record_incident(
            conn,
            school,
            "S06",
            "P0001",
            ["behaviour/negative-behaviour"],
            description='=HYPERLINK("http://x")',
        )
    body = {"kind": "chronology", "format": "csv", "categories": ["behaviour"]}
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", body)
    rows = list(csv.reader(io.StringIO((await download(dsl, done))[1].decode("utf-8-sig"))))
    descriptions = [r[4] for r in rows[1:] if r[1] == "incident"]
    assert descriptions == ["SecondMarker", '\'=HYPERLINK("http://x")']


async def test_the_ready_email_is_a_link_and_nothing_else(dsl, drain, smtp_sink, school):
    done = await export_done(dsl, drain, "/v1/pupils/P0001/exports", {"kind": "chronology"})
    [message] = [m.message for m in smtp_sink.messages if b"export is ready" in m.data]
    assert message["To"] == school.emails["S04"]
    texts = [p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()]
    assert all(f"https://beacon.school.example/exports/{done['id']}" in t for t in texts)
    for secret in ("Zephyrine", "Quillfeather", "P0001", "hronology", "marker"):
        assert all(secret not in t for t in texts) and secret not in message["Subject"]
