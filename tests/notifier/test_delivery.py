"""The delivery engine against a real SMTP sink, PostgreSQL and Redis: once per alert, retries,
permanent failures, leases, concurrency, and the arq doorbell."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy

import asyncpg
import pytest

from services.notifier.engine import Engine
from services.notifier.jobs import build_worker, close_worker
from shared import queue
from shared.config import Settings
from tests.support.smtp_sink import SmtpSink
from tests.support.until import until
from tests.support.world import (
    School,
    alert_rows,
    pile_of_queued_alerts,
    record_action,
    record_incident,
    resolve_alerts,
)

TEMPFAIL = "451 4.3.0 try later"
NO_SUCH_USER = "550 5.1.1 no such user"


async def queued(pg: asyncpg.Pool, school: School, author: str) -> dict[str, uuid.UUID]:
    """The alerts of one action by `author` (of S01-S03) on a routine incident: by the default
    action rule, the other two of head, SLT and pastoral. The incident's own event is left
    unresolved, so these are the only alerts there are."""
    async with pg.acquire() as conn:
        incident = await record_incident(conn, school)
        action = await record_action(conn, school, incident.id, author)
        return await resolve_alerts(conn, action.event)


async def send_pass(engine: Engine) -> None:
    assert await engine.deliver_due(wait=20), "the pass did not finish"


async def make_due_now(pg: asyncpg.Pool) -> None:
    """Drive time instead of sleeping through the backoff."""
    await pg.execute("UPDATE alerts SET next_attempt_at = now() WHERE state = 'retrying'")


async def test_a_queued_alert_is_sent_once_with_the_right_headers(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    ids = await queued(pg, school, "S02")
    assert set(ids) == {"S01", "S03"}
    engine = make_engine()
    async with engine.running():
        await send_pass(engine)
        await send_pass(engine)  # a second pass finds nothing more to send

    assert len(smtp_sink.messages) == 2
    by_to = {m.recipients[0]: m for m in smtp_sink.messages}
    assert set(by_to) == {school.emails["S01"], school.emails["S03"]}
    for staff, alert_id in ids.items():
        received = by_to[school.emails[staff]]
        msg = message_from_bytes(received.data, policy=policy.default)
        assert received.envelope_from == "beacon@school.example"
        assert msg["To"] == school.emails[staff]
        assert msg["Message-ID"] == f"<alert-{alert_id}@school.example>"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        link = f"https://beacon.school.example/alerts/{alert_id}"
        assert link in msg.get_body(("plain",)).get_content()
        assert link in msg.get_body(("html",)).get_content()
        assert "Oakfield Primary" in msg["Subject"]
        assert "Cause for concern / Injury/Bruise" in msg["Subject"]
    rows = await alert_rows(pg, list(ids.values()))
    assert {r["state"] for r in rows.values()} == {"sent"}
    assert all(
        r["sent_at"] and r["lease_until"] is None and r["attempts"] == 1 for r in rows.values()
    )


async def test_transient_refusal_is_retried_then_sent(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    ids = list((await queued(pg, school, "S03")).values())
    engine = make_engine()
    async with engine.running():
        smtp_sink.handler.reply = TEMPFAIL
        await send_pass(engine)
        for row in (await alert_rows(pg, ids)).values():
            assert row["state"] == "retrying"
            assert row["error"] == TEMPFAIL
            assert 1.0 <= (row["next_attempt_at"] - row["queued_at"]).total_seconds() <= 4.0

        smtp_sink.handler.reply = None
        await send_pass(engine)  # not due yet: backoff holds it back
        assert smtp_sink.messages == []
        await make_due_now(pg)
        await send_pass(engine)

    rows = (await alert_rows(pg, ids)).values()
    assert {(r["state"], r["attempts"], r["error"]) for r in rows} == {("sent", 2, None)}
    assert len(smtp_sink.messages) == len(ids)


async def test_permanent_refusal_fails_at_once_with_the_reason(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    ids = list((await queued(pg, school, "S02")).values())
    smtp_sink.handler.reply = NO_SUCH_USER
    engine = make_engine()
    async with engine.running():
        await send_pass(engine)
        await make_due_now(pg)
        await send_pass(engine)
    for row in (await alert_rows(pg, ids)).values():
        assert (row["state"], row["attempts"]) == ("failed", 1)
        assert row["error"] == NO_SUCH_USER
        assert row["failed_at"] is not None


async def test_transient_failures_stop_at_the_attempt_limit(
    pg: asyncpg.Pool,
    school: School,
    smtp_sink: SmtpSink,
    settings: Settings,
    make_engine: Callable[..., Engine],
) -> None:
    ids = list((await queued(pg, school, "S02")).values())
    smtp_sink.handler.reply = TEMPFAIL
    engine = make_engine(max_attempts=3)
    async with engine.running():
        for _ in range(3):
            await send_pass(engine)
            await make_due_now(pg)
        await send_pass(engine)
    for row in (await alert_rows(pg, ids)).values():
        assert (row["state"], row["attempts"]) == ("failed", 3)
        assert row["error"] == f"gave up after 3 attempts: {TEMPFAIL}"


async def test_smtp_down_leaves_alerts_retrying_then_they_go_out(
    pg: asyncpg.Pool,
    school: School,
    smtp_sink: SmtpSink,
    settings: Settings,
    make_engine: Callable[..., Engine],
) -> None:
    ids = await queued(pg, school, "S03")
    nobody_listens = Settings.from_env({**_env(settings), "SMTP_PORT": str(_closed_port())})
    engine = make_engine(nobody_listens)
    async with engine.running():
        await send_pass(engine)
    rows = await alert_rows(pg, list(ids.values()))
    assert {r["state"] for r in rows.values()} == {"retrying"}
    assert all(r["error"] for r in rows.values())

    await make_due_now(pg)
    engine = make_engine()
    async with engine.running():
        await send_pass(engine)
    rows = await alert_rows(pg, list(ids.values()))
    assert {r["state"] for r in rows.values()} == {"sent"}
    assert len(smtp_sink.messages) == len(ids)


async def test_the_sweeper_takes_back_an_expired_lease(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    ids = await queued(pg, school, "S03")
    assert set(ids) == {"S01", "S02"}
    # S01's sender died mid-send (lease expired); S02 is being sent by a live one.
    await pg.execute(
        """UPDATE alerts SET state = 'sending', attempts = 1,
                               lease_until = now() - interval '1 second' WHERE id = $1""",
        ids["S01"],
    )
    await pg.execute(
        """UPDATE alerts SET state = 'sending', attempts = 1,
                               lease_until = now() + interval '1 minute' WHERE id = $1""",
        ids["S02"],
    )
    engine = make_engine(sweep_interval=0.05)
    async with engine.running():  # no doorbell: only the sweeper's tick can find it
        await until(lambda: len(smtp_sink.messages) >= 1, 10)
    rows = await alert_rows(pg, list(ids.values()))
    assert (rows[ids["S01"]]["state"], rows[ids["S01"]]["attempts"]) == ("sent", 2)
    assert rows[ids["S02"]]["state"] == "sending"
    assert [m.recipients for m in smtp_sink.messages] == [[school.emails["S01"]]]


async def test_two_engines_on_the_same_backlog_send_each_alert_once(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    async with pg.acquire() as conn:
        ids = await pile_of_queued_alerts(conn, school, 300)
    first, second = make_engine(batch_size=20), make_engine(batch_size=20)
    async with first.running(), second.running():
        await asyncio.gather(send_pass(first), send_pass(second))
    ids_sent = Counter(m.message["Message-ID"] for m in smtp_sink.messages)
    assert len(ids_sent) == 300 and set(ids_sent.values()) == {1}
    rows = await alert_rows(pg, ids)
    assert {r["state"] for r in rows.values()} == {"sent"}
    assert {r["attempts"] for r in rows.values()} == {1}


async def test_the_deliver_doorbell_sends_through_the_arq_worker(
    pg: asyncpg.Pool,
    school: School,
    smtp_sink: SmtpSink,
    settings: Settings,
    make_engine: Callable[..., Engine],
) -> None:
    ids = await queued(pg, school, "S02")
    redis = await queue.connect(settings.redis_url)
    try:
        assert await queue.enqueue_deliver(redis, 1)
        assert await queue.enqueue_deliver(redis, 2)
        engine = make_engine(sweep_interval=3600)  # only the doorbell can start a pass
        worker = build_worker(settings, engine, burst=True, poll_delay=0)
        async with engine.running():
            assert await worker.run_check() == 2
        await close_worker(worker)
        # keep_result=0: the same doorbell can ring again at once.
        assert await queue.enqueue_deliver(redis, 1)
    finally:
        await redis.aclose()
    rows = await alert_rows(pg, list(ids.values()))
    assert {r["state"] for r in rows.values()} == {"sent"}
    assert len(smtp_sink.messages) == 2


def _env(settings: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "SMTP_FROM": settings.smtp_from,
        "BEACON_BASE_URL": settings.base_url,
        "BEACON_ADMIN_TOKEN": settings.admin_token,
        "BEACON_SECRET_KEY": settings.secret_key,
        "SMTP_TIMEOUT": "2",
    }


def _closed_port() -> int:
    from tests.support.ports import free_port

    return free_port()  # bound and released: nothing listens there


@pytest.fixture(autouse=True)
def _accepting(smtp_sink: SmtpSink) -> None:
    smtp_sink.handler.reply = None


async def test_an_alert_whose_leases_keep_expiring_ends_failed(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    """A crash loop (killed mid-send every time) stops at the attempt limit, recorded."""
    ids = list((await queued(pg, school, "S02")).values())
    await pg.execute(
        """UPDATE alerts SET state = 'sending', attempts = 3,
                               lease_until = now() - interval '1 second' WHERE id = ANY($1)""",
        ids,
    )
    engine = make_engine(max_attempts=3)
    async with engine.running():
        await send_pass(engine)
    rows = (await alert_rows(pg, ids)).values()
    assert {(r["state"], r["error"]) for r in rows} == {("failed", "gave up after 3 attempts")}
    assert smtp_sink.messages == []
