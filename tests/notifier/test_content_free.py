"""The hard rule: an alert email carries who raised it (initials), the categories, the school,
the incident number and a link. Every free-text field and every pupil detail gets a unique
marker; every byte of every captured message (headers, raw and decoded parts) is searched."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from email import message_from_bytes, policy

import asyncpg

from services.notifier.engine import Engine
from services.worker.escalation import escalate_once
from shared import queue
from tests.support import roster
from tests.support.smtp_sink import SmtpSink
from tests.support.world import (
    School,
    attach_file,
    record_action,
    record_incident,
    resolve_alerts,
)


def markers() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        f: f"Mk{f}{tag}"
        for f in ("description", "agency", "bodynote", "action", "filename", "filedata")
    }


def forbidden(m: dict[str, str]) -> list[str]:
    words = list(m.values())
    for p in roster.PUPILS:
        y, mo, d = p["date_of_birth"].split("-")
        words += [
            p["first_name"],
            p["last_name"],
            p["date_of_birth"],
            f"{d}/{mo}/{y}",
            f"{mo}/{d}/{y}",
            f"{d}.{mo}.{y}",
            f"{y}{mo}{d}",
        ]
    return [w.lower() for w in words]


def views(raw: bytes) -> list[str]:
    """The raw message, every header decoded, every part decoded (base64/quoted-printable)."""
    msg = message_from_bytes(raw, policy=policy.default)
    out = [raw.decode("utf-8", "replace")]
    for part in msg.walk():
        out += [f"{k}: {v}" for k, v in part.items()]
        payload = part.get_payload(decode=True)
        if payload:
            out.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return [v.lower() for v in out]


async def test_no_pupil_detail_or_free_text_reaches_any_email(
    pg: asyncpg.Pool,
    school: School,
    smtp_sink: SmtpSink,
    make_engine: Callable[..., Engine],
    redis_url: str,
) -> None:
    m = markers()
    async with pg.acquire() as conn:
        incident = await record_incident(
            conn,
            school,
            "S04",
            "P0001",
            ["safeguarding/cla", "cause-for-concern/injury-bruise"],
            linked=["P0002", "P0003"],
            description=f"{m['description']} Zephyrine said her DOB is 01/05/2017",
            agencies=[m["agency"]],
            body_map=[{"view": "front", "region": "left-arm", "note": m["bodynote"]}],
        )
        await attach_file(conn, school, incident.id, f"{m['filename']}.txt", m["filedata"].encode())
        action = await record_action(conn, school, incident.id, "S03", m["action"])
        # Restricted: S01-S03 and the deputy DSL S05 (the author, the DSL, excepted).
        assert set(await resolve_alerts(conn, incident.event)) == {"S01", "S02", "S03", "S05"}
        assert set(await resolve_alerts(conn, action.event)) == {"S01", "S02"}
    redis = await queue.connect(redis_url)
    try:  # unread by any DSL: the worker's escalation pass raises it to the deputy DSL
        [escalation] = await escalate_once(pg, redis, 0)
    finally:
        await redis.aclose()
    async with pg.acquire() as conn:
        assert set(await resolve_alerts(conn, escalation)) == {"S05"}

    engine = make_engine()
    async with engine.running():
        assert await engine.deliver_due(wait=20)

    messages = smtp_sink.messages
    assert len(messages) == 7
    bad = forbidden(m)
    for received in messages:
        for view in views(received.data):
            hits = [w for w in bad if w in view]
            assert hits == [], f"forbidden content in an email: {hits}"

    subjects = [message_from_bytes(r.data, policy=policy.default)["Subject"] for r in messages]
    ref = f"#{incident.reference}"
    assert (
        sum(
            s.startswith(f"[Beacon] New incident {ref} at Oakfield Primary") and "(DL)" in s
            for s in subjects
        )
        == 4
    )
    assert sum(f"New action on incident {ref}" in s and "(CP)" in s for s in subjects) == 2
    assert sum(f"Unread safeguarding alert escalated: incident {ref}" in s for s in subjects) == 1
    # A restricted incident names only its groups: never the sub-category ("CLA").
    assert all("Cause for concern, Safeguarding" in s and "CLA" not in s for s in subjects)


def test_the_search_finds_a_leak_hidden_by_encoding() -> None:
    """The check above can fail: a name in an encoded subject and a soft-wrapped QP body."""
    from services.notifier.message import AlertMail, Composer

    leak = "Zephyrine Quillfeather"
    long_school = "Ä school " + "x" * 60 + leak  # forces RFC 2047 and QP line wrapping
    raw = Composer("Beacon <b@s.example>", "https://b.example").compose(
        AlertMail(uuid.uuid4(), "a@s.example", "incident", 7, long_school, "SEN / HLN", "AB")
    )
    decoded_views = views(raw)[1:]
    assert any("zephyrine" in v for v in decoded_views)
    assert sum("quillfeather" in v for v in decoded_views) >= 3  # subject, text, html
