"""Subject access requests: the due date (a table), the register and its clock, who may handle
them, the handlers' reminders, and the review draft and final PDF with third parties redacted
(read back with pypdf)."""

from __future__ import annotations

import datetime as dt
import json
from html import unescape

import pytest

from services.ingest.records.sar_dates import due_on
from services.worker.exports import sar_reminders
from shared.auth.sessions import COOKIE
from tests.conftest import ADMIN_TOKEN
from tests.exports.conftest import download, elevate, export_done, pdf_pages, signed_in
from tests.support.world import attach_file, record_action, record_incident, resolve_alerts

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OTHER_PUPILS = ("Yannick", "Moonbeam", "Xanthe", "Larkspur")
NEW = {"pupil": "P0001", "requester": "Jo Quillfeather", "relationship": "parent"}


@pytest.mark.parametrize(
    ("received", "extension", "paused", "due"),
    [
        ("2027-01-31", 0, 0, "2027-02-28"),  # no 31 February: the month's last day
        ("2028-01-31", 0, 0, "2028-02-29"),  # a leap year
        ("2028-01-29", 0, 0, "2028-02-29"),
        ("2027-01-29", 0, 0, "2027-02-28"),
        ("2028-02-29", 0, 0, "2028-03-29"),  # from a leap day: the corresponding date
        ("2027-03-31", 0, 0, "2027-04-30"),
        ("2027-01-15", 0, 0, "2027-02-15"),
        ("2026-12-31", 0, 0, "2027-01-31"),  # over the year's end
        ("2026-07-20", 0, 0, "2026-08-20"),  # the summer holiday extends nothing
        ("2027-01-31", 1, 0, "2027-03-31"),  # extended: counted from receipt
        ("2027-01-31", 2, 0, "2027-04-30"),
        ("2027-11-30", 2, 0, "2028-02-29"),
        ("2027-01-31", 0, 3, "2027-03-03"),  # paused 3 days
        ("2027-01-10", 1, 10, "2027-03-20"),
    ],
)
def test_due_date(received, extension, paused, due):
    got = due_on(dt.date.fromisoformat(received), extension, paused)
    assert got == dt.date.fromisoformat(due)


def test_an_extension_is_at_most_two_months():
    with pytest.raises(ValueError):
        due_on(dt.date(2027, 1, 31), 3)


async def test_the_register_and_its_clock_every_change_audited(dsl, pg, school):
    r = await dsl.request("POST", "/v1/sars", {**NEW, "received_on": "2027-01-31"})
    assert r.status == 201, await r.text()
    sar = await r.json()
    assert sar["due_on"] == "2027-02-28" and sar["state"] == "open" and sar["id"]
    r = await dsl.request("POST", "/v1/sars", {**NEW, "received_on": "2026-11-20"})
    sooner = await r.json()
    assert sooner["due_on"] == "2026-12-20"
    listed = (await (await dsl.request("GET", "/v1/sars")).json())["sars"]
    assert [s["id"] for s in listed] == [sooner["id"], sar["id"]]  # by due date

    path = f"/v1/sars/{sar['id']}"
    r = await dsl.request("POST", f"{path}/extension", {"months": 2, "reason": "Complex"})
    assert (await r.json())["due_on"] == "2027-04-30"
    r = await dsl.request("POST", f"{path}/extension", {"months": 1, "reason": "Oops"})
    assert r.status == 409  # never shortened
    r = await dsl.request("POST", f"{path}/extension", {"months": 3, "reason": "Long"})
    assert r.status == 422
    r = await dsl.request("POST", f"{path}/pause", {"reason": "Identity of the requester"})
    assert (await r.json())["state"] == "paused"
    assert (await dsl.request("POST", f"{path}/pause", {"reason": "Again"})).status == 409
    await pg.execute("UPDATE sars SET paused_on = paused_on - 5 WHERE id = $1", sar["id"])
    r = await dsl.request("POST", f"{path}/resume", {})
    resumed = await r.json()
    assert resumed["state"] == "open" and resumed["paused_days"] == 5
    assert resumed["due_on"] == "2027-05-05"  # moved on by the days paused
    actions = [
        r["action"]
        for r in await pg.fetch(
            "SELECT action FROM audit_log WHERE subject_type = 'sar' AND subject_id = $1 "
            "ORDER BY seq",
            sar["id"],
        )
    ]
    assert actions == ["sar.record", "sar.extend", "sar.pause", "sar.resume"]
    r = await dsl.request(
        "POST", "/v1/sars", {**NEW, "pupil": "P9999", "received_on": "2027-01-31"}
    )
    assert r.status == 422 and (await r.json())["field"] == "pupil"


async def test_who_may_handle_them(client, school, dsl, pg):
    r = await dsl.request("POST", "/v1/sars", {**NEW, "received_on": "2026-11-20"})
    sar = await r.json()
    r = await client.get("/v1/sars", headers=school.headers)
    assert r.status == 403  # an API key
    teacher = await signed_in(client, school, "S06")
    assert (await teacher.request("GET", "/v1/sars")).status == 404
    assert (await teacher.request("GET", f"/v1/sars/{sar['id']}")).status == 404
    deputy = await signed_in(client, school, "S05")  # a deputy DSL, not elevated
    assert (await deputy.request("GET", "/v1/sars")).status == 401
    page = await _get(deputy, "/sars")
    assert page.status == 303 and page.headers["Location"].startswith("/elevate?next=")
    pastoral = await elevate(await signed_in(client, school, "S03"))
    assert (await pastoral.request("GET", "/v1/sars")).status == 404
    assert (await _get(pastoral, "/sars")).status == 404

    # The school names pastoral a SAR handler (its administrators do; audited).
    handlers = f"/v1/schools/{school.id}/sar-handlers"
    r = await client.put(handlers, json={"staff": ["S03"]}, headers=ADMIN)
    assert r.status == 200 and await r.json() == {"staff": ["S03"], "redact_staff": True}
    r = await client.put(handlers, json={"staff": ["S99"]}, headers=ADMIN)
    assert r.status == 422
    assert (await client.get(handlers, headers=school.headers)).status in (401, 403, 404)
    assert (await dsl.request("GET", handlers)).status == 404  # not an administrator
    listed = await (await pastoral.request("GET", "/v1/sars")).json()
    assert [s["id"] for s in listed["sars"]] == [sar["id"]]
    assert (await _get(pastoral, "/sars")).status == 200
    [change] = await pg.fetch("SELECT * FROM audit_log WHERE action = 'admin.sar_handlers.change'")
    assert json.loads(change["detail"])["after"]["staff"] == ["S03"]


async def test_handlers_are_reminded_a_week_before_and_on_the_day_once_each(
    client, dsl, pg, school, settings, smtp_sink
):
    r = await dsl.request("POST", "/v1/sars", {**NEW, "received_on": "2027-01-31"})
    sar = await r.json()
    due = dt.date(2027, 2, 28)
    assert await sar_reminders.reminder_pass(settings, pg, due - dt.timedelta(days=8)) == 0
    # No handler named yet: the DSL and the deputy DSL.
    assert await sar_reminders.reminder_pass(settings, pg, due - dt.timedelta(days=7)) == 2
    assert await sar_reminders.reminder_pass(settings, pg, due - dt.timedelta(days=6)) == 0
    await client.put(
        f"/v1/schools/{school.id}/sar-handlers", json={"staff": ["S03"]}, headers=ADMIN
    )
    assert await sar_reminders.reminder_pass(settings, pg, due) == 1
    assert await sar_reminders.reminder_pass(settings, pg, due) == 0
    assert await sar_reminders.reminder_pass(settings, pg, due + dt.timedelta(days=1)) == 0
    messages = [m.message for m in smtp_sink.messages if b"subject access" in m.data]
    assert sorted(m["To"] for m in messages) == sorted(
        [school.emails["S04"], school.emails["S05"], school.emails["S03"]]
    )
    for message in messages:
        texts = [
            p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()
        ]
        assert all("A subject access request is due on 28 February 2027" in t for t in texts)
        assert all(f"https://beacon.school.example/sars/{sar['id']}" in t for t in texts)
        for secret in ("Zephyrine", "Quillfeather", "P0001", "Jo ", "parent"):
            assert all(secret not in t for t in texts) and secret not in message["Subject"]


async def test_a_paused_request_is_not_reminded(dsl, pg, settings):
    r = await dsl.request("POST", "/v1/sars", {**NEW, "received_on": "2027-01-31"})
    sar = await r.json()
    await dsl.request("POST", f"/v1/sars/{sar['id']}/pause", {"reason": "Scope"})
    assert await sar_reminders.reminder_pass(settings, pg, dt.date(2027, 2, 28)) == 0


@pytest.fixture
async def held(pg, school):
    """What the school holds about P0001 beyond the shared fixture: other pupils named in a
    write-up, an action and a body-map note, a linked pupil, an incident about another pupil
    that links P0001, a file, alerts and a view of the chronology."""
    async with pg.acquire() as conn:
        own = await record_incident(
            conn,
            school,
            "S06",
            "P0001",
            linked=["P0003"],
            description="Zephyrine said YANNICK took her coat; xanthe larkspur saw it. "
            "WriteUpMarker",
            body_map=[{"view": "front", "region": "left arm", "note": "Moonbeam's kick"}],
        )
        await record_action(
            conn, school, own.id, "S04", "Spoke to Larkspur's mum and Mrs Teacher. ActionMarker"
        )
        about_other = await record_incident(
            conn,
            school,
            "S07",
            "P0002",
            linked=["P0001"],
            description="Yannick Moonbeam pushed Zephyrine. LinkedMarker",
        )
        await attach_file(conn, school, own.id, "statement-Xanthe.txt", b"statement")
        await resolve_alerts(conn, own.event)
        await resolve_alerts(conn, about_other.event)
    return {"own": own, "about_other": about_other}


async def test_the_final_pdf_holds_the_subjects_record_and_no_other_pupil(
    dsl, drain, pg, school, held, smtp_sink
):
    r = await dsl.request("GET", "/v1/pupils/P0001/chronology")  # a view, audited
    assert r.status == 200
    r = await dsl.request("POST", "/v1/sars", {**NEW, "received_on": "2026-11-20"})
    sar = await r.json()
    path = f"/v1/sars/{sar['id']}"
    r = await dsl.request("POST", f"{path}/exports", {"stage": "final"})
    assert r.status == 409  # the draft comes first

    draft = await export_done(dsl, drain, f"{path}/exports", {"stage": "draft"})
    assert draft["kind"] == "sar"
    response, data = await download(dsl, draft)
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="sar-P0001-draft-'
    )
    text = "\n".join(pages := pdf_pages(data))
    assert all("REVIEW DRAFT" in page for page in pages)
    _no_other_pupil(text)
    assert "Pupil A" in text and "Pupil B" in text and "Staff member 1" in text
    assert "Dan Lead" not in text and "Finn Teacher" not in text  # staff redacted by default

    found = await (await dsl.request("GET", path)).json()
    parties = {(p["kind"], p["id"]): p for p in found["third_parties"]}
    assert parties[("pupil", "P0002")]["redacted"] and parties[("pupil", "P0003")]["redacted"]
    assert parties[("staff", "S04")]["redacted_by_default"]
    labels = {parties[("pupil", p)]["label"] for p in ("P0002", "P0003")}
    assert labels == {"Pupil A", "Pupil B"}

    # The handler reveals the DSL, reveals Pupil A and then redacts them again (newest wins).
    for kind, person, decision in (
        ("staff", "S04", "reveal"),
        ("pupil", "P0002", "reveal"),
        ("pupil", "P0002", "redact"),
    ):
        body = {"kind": kind, "id": person, "decision": decision, "reason": f"Reviewed {person}"}
        r = await dsl.request("POST", f"{path}/decisions", body)
        assert r.status == 200, await r.text()
    r = await dsl.request(
        "POST",
        f"{path}/decisions",
        {"kind": "pupil", "id": "P0001", "decision": "reveal", "reason": "x"},
    )
    assert r.status == 404  # not a third party the draft found
    assert await pg.fetchval("SELECT count(*) FROM sar_decisions") == 3
    assert await pg.fetchval("SELECT count(*) FROM audit_log WHERE action = 'sar.decision'") == 3

    final = await export_done(dsl, drain, f"{path}/exports", {"stage": "final"})
    text = "\n".join(pages := pdf_pages((await download(dsl, final))[1]))
    assert not any("REVIEW DRAFT" in page for page in pages)
    _no_other_pupil(text)
    for own in ("Zephyrine Quillfeather", "P0001", "WriteUpMarker", "ActionMarker", "LinkedMarker"):
        assert own in text, own
    for own in ("FirstMarker", "SecondMarker", "ThirdMarker", "FirstAction", "SecondAction"):
        assert own in text, own
    assert "OtherPupilMarker" not in text  # P0002's own record, not linking P0001
    assert "Dan Lead" in text  # revealed
    assert "Finn Teacher" not in text and "Mrs Teacher" not in text  # still redacted
    assert "statement-Pupil" in text and "left arm" in text
    assert "Who viewed the record" in text and "chronology" in text
    asked = await pg.fetch("SELECT detail FROM audit_log WHERE action = 'export.request'")
    assert [json.loads(a["detail"])["params"]["stage"] for a in asked] == ["draft", "final"]


def _no_other_pupil(text: str) -> None:
    lowered = text.lower()
    for name in OTHER_PUPILS:
        assert name.lower() not in lowered, name


async def test_the_pages(dsl, drain, pg, school, held):
    page = unescape(await (await _get(dsl, "/sars")).text())
    assert "Register a request" in page and "No open requests" in page
    r = await _post(dsl, "/sars", {**NEW, "received_on": "2026-11-20"})
    assert r.status == 303, await r.text()
    sar_path = r.headers["Location"]
    page = unescape(await (await _get(dsl, "/sars")).text())
    assert f'href="{sar_path}"' in page and "20 December 2026" in page
    r = await _post(dsl, "/sars", {**NEW, "pupil": "", "received_on": "2026-11-20"})
    assert r.status == 400 and "There is a problem" in await r.text()

    r = await _post(dsl, f"{sar_path}/exports", {"stage": "draft"})
    assert r.status == 303 and r.headers["Location"].startswith("/exports/")
    await drain()
    page = unescape(await (await _get(dsl, sar_path)).text())
    assert "Pupil A" in page and "Yannick Moonbeam (P0002)" in page  # the handler sees who
    assert "Make the final PDF" in page and "Reveal Pupil A" in page
    r = await _post(
        dsl,
        f"{sar_path}/decisions",
        {"kind": "staff", "id": "S06", "decision": "reveal", "reason": "Author of own record"},
    )
    assert r.status == 303
    page = unescape(await (await _get(dsl, sar_path)).text())
    assert "Author of own record" in page
    r = await _post(
        dsl,
        f"{sar_path}/decisions",
        {"kind": "staff", "id": "S06", "decision": "redact", "reason": ""},
    )
    assert r.status == 400 and "There is a problem" in await r.text()
    r = await _post(dsl, f"{sar_path}/pause", {"reason": "Checking identity"})
    assert r.status == 303
    assert "Restart the clock" in await (await _get(dsl, sar_path)).text()
    r = await _post(dsl, f"{sar_path}/resume", {})
    r = await _post(dsl, f"{sar_path}/extension", {"months": "1", "reason": "Volume"})
    assert r.status == 303
    assert "20 January 2027" in await (await _get(dsl, sar_path)).text()
    r = await _post(dsl, f"{sar_path}/exports", {"stage": "final"})
    assert r.status == 303
    export_id = r.headers["Location"].rsplit("/", 1)[1]
    await drain()
    page = unescape(await (await _get(dsl, f"/exports/{export_id}")).text())
    assert "Subject access request" in page and f"/exports/{export_id}/file" in page
    assert await pg.fetchval("SELECT count(*) FROM sar_decisions") == 1


async def _get(browser, path):
    return await browser.client.get(
        path, headers={"Cookie": f"{COOKIE}={browser.cookie}"}, allow_redirects=False
    )


async def _post(browser, path, data):
    return await browser.client.post(
        path,
        data={"csrf_token": browser.csrf, **data},
        headers={"Cookie": f"{COOKIE}={browser.cookie}"},
        allow_redirects=False,
    )


async def test_a_named_handler_reads_the_sar_export_but_no_other(client, school, dsl, drain):
    """A SAR handler who is not DSL or SLT (here pastoral) may take the subject access export
    they asked for, and still no other export."""
    await client.put(
        f"/v1/schools/{school.id}/sar-handlers", json={"staff": ["S03"]}, headers=ADMIN
    )
    pastoral = await elevate(await signed_in(client, school, "S03"))
    r = await pastoral.request("POST", "/v1/sars", {**NEW, "received_on": "2026-11-20"})
    assert r.status == 201, await r.text()
    sar = await r.json()
    done = await export_done(pastoral, drain, f"/v1/sars/{sar['id']}/exports", {"stage": "draft"})
    assert (await pastoral.request("GET", f"/v1/exports/{done['id']}")).status == 200
    assert (await pastoral.request("GET", done["file"])).status == 200
    chronology = await export_done(
        dsl, drain, "/v1/pupils/P0001/exports", {"kind": "chronology", "format": "csv"}
    )
    assert (await pastoral.request("GET", f"/v1/exports/{chronology['id']}")).status == 404
    assert (await pastoral.request("GET", chronology["file"])).status == 404
