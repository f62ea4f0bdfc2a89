"""The governors' report (numbers only, small numbers suppressed, repeatable charts) and the
Ofsted pack (referrals, open safeguarding incidents, incidents with no action)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from services.worker.exports import charts
from services.worker.exports.suppression import shown
from tests.exports.conftest import DAY, download, export_done, pdf_pages
from tests.support.world import record_incident


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_governors_report_has_no_names_and_says_fewer_than_5(dsl, drain, school, pg):
    async with pg.acquire() as conn:
        for n in range(6):  # six behaviour incidents in November: a count that is shown
            await record_incident(
                conn,
                school,
                "S06",
                "P0002",
                ["behaviour/negative-behaviour"],
                occurred_at=DAY + dt.timedelta(days=30, hours=n),
                agencies=["Police"],
            )
    path = f"/v1/schools/{school.id}/reports"
    body = {"kind": "governors", "from": "2026-09-01", "to": "2026-11-30", "format": "pdf"}
    done = await export_done(dsl, drain, path, body)
    response, data = await download(dsl, done)
    assert (
        'filename="governors-report-2026-09-01-to-2026-11-30.pdf"'
        in response.headers["Content-Disposition"]
    )
    pages = pdf_pages(data)
    text = "\n".join(pages)
    assert all("OFFICIAL-SENSITIVE" in p for p in pages)
    assert "fewer than 5" in text
    for secret in (
        "Zephyrine",
        "Quillfeather",
        "Yannick",
        "Moonbeam",
        "Dan Lead",
        "Finn Teacher",
        "Marker",
        "P0001",
        "P0002",
    ):
        assert secret not in text, secret

    done = await export_done(dsl, drain, path, {**body, "format": "csv"})
    sheet = rows_of((await download(dsl, done))[1])
    assert sheet[0] == ["section", "what", "month", "value"]
    figures = {(r[0], r[1], r[2]): r[3] for r in sheet[1:]}
    assert figures[("Incidents", "All", "")] == "9"
    assert figures[("Incidents by category group and month", "Behaviour", "Nov 2026")] == "6"
    assert (
        figures[("Incidents by category group and month", "Behaviour", "Oct 2026")]
        == "fewer than 5"
    )
    assert figures[("Incidents involving each agency", "Police", "")] == "6"
    assert (
        figures[("Incidents involving each agency", "Children's social care", "")] == "fewer than 5"
    )
    assert (
        figures[("Restricted and not restricted", "Restricted (safeguarding, SLT)", "")]
        == "fewer than 5"
    )
    assert all(v == "fewer than 5" or not v.isdigit() or int(v) >= 5 for v in figures.values())


def test_every_count_below_5_is_fewer_than_5():
    assert [shown(n) for n in (0, 1, 4, 5, 12)] == ["fewer than 5"] * 3 + ["5", "12"]


def test_the_same_data_draws_the_same_svg_bytes():
    labels, values = ["Behaviour", "Cause for concern", "Safeguarding"], [12, 3, 7]
    first = charts.bars(labels, values, "Incidents by category group")
    again = charts.bars(list(labels), list(values), "Incidents by category group")
    assert first == again
    assert first.startswith(b"<?xml") and b"<script" not in first
    assert b"Behaviour" in first and b"&lt;5" in first  # the small count is labelled, not drawn
    assert charts.bars(labels, [12, 3, 8], "Incidents by category group") != first


async def test_ofsted_pack_in_one_click(dsl, drain, school):
    done = await export_done(dsl, drain, f"/v1/schools/{school.id}/reports", {"kind": "ofsted"})
    text = "\n".join(pdf_pages((await download(dsl, done))[1]))
    third = school.recorded["third"]
    assert "Referrals made" in text and "Children's social care" in text
    assert "Open means that no action has been recorded" in text
    assert "Zephyrine Quillfeather" in text  # its restricted incident has no action yet
    assert f"#{third.reference}" in text
    assert "Incidents with no action" in text

    done = await export_done(
        dsl, drain, f"/v1/schools/{school.id}/reports", {"kind": "ofsted", "format": "csv"}
    )
    sheet = rows_of((await download(dsl, done))[1])
    sections = [r[0] for r in sheet[1:]]
    assert sections.count("referral") == 1 and sections.count("open safeguarding") == 1
    no_action = {r[2] for r in sheet[1:] if r[0] == "no action"}
    assert str(third.reference) in no_action
    assert str(school.recorded["first"].reference) not in no_action  # it has an action
