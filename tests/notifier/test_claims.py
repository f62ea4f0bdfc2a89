"""Which alerts a claim takes: urgent before routine, fair across schools, never twice, and
index-driven with a deep backlog (how fast: bench/claims.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from email import message_from_bytes, policy
from typing import Any

import asyncpg

from services.notifier import claims
from services.notifier.engine import Engine
from tests.support.smtp_sink import SmtpSink
from tests.support.world import School, pile_of_queued_alerts, seed_school

LEASE = 30.0


async def test_an_urgent_alert_queued_last_goes_in_the_first_batch(
    pg: asyncpg.Pool, school: School, smtp_sink: SmtpSink, make_engine: Callable[..., Engine]
) -> None:
    async with pg.acquire() as conn:
        await pile_of_queued_alerts(conn, school, 400)
        [urgent] = await pile_of_queued_alerts(conn, school, 1, restricted=True)
    engine = make_engine(batch_size=50)
    async with engine.running():
        assert await engine.deliver_due(wait=30)
    order = [
        message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in smtp_sink.messages
    ]
    assert len(order) == 401
    assert order.index(f"<alert-{urgent}@school.example>") < 20  # FIFO would make it last


async def test_one_schools_burst_does_not_starve_another(pg: asyncpg.Pool, school: School) -> None:
    async with pg.acquire() as conn:
        other = await seed_school(conn, "Birchwood Academy")
        await pile_of_queued_alerts(conn, school, 500)
        small = await pile_of_queued_alerts(conn, other, 5)  # queued after all 500
    first = await claims.claim_due(pg, 20, LEASE)
    taken = {mail.alert_id for mail, _ in first}
    assert len(first) == 20
    assert set(small) <= taken
    assert {mail.school for mail, _ in first} == {"Oakfield Primary", "Birchwood Academy"}


async def test_priority_still_comes_before_fairness(pg: asyncpg.Pool, school: School) -> None:
    async with pg.acquire() as conn:
        other = await seed_school(conn, "Birchwood Academy")
        await pile_of_queued_alerts(conn, other, 50)
        urgent = await pile_of_queued_alerts(conn, school, 30, restricted=True)
    first = await claims.claim_due(pg, 30, LEASE)
    assert {mail.alert_id for mail, _ in first} == set(urgent)


async def test_concurrent_claims_never_take_the_same_alert(
    pg: asyncpg.Pool, school: School
) -> None:
    async with pg.acquire() as conn:
        ids = await pile_of_queued_alerts(conn, school, 200)
    batches = await asyncio.gather(*(claims.claim_due(pg, 30, LEASE) for _ in range(10)))
    taken = [mail.alert_id for batch in batches for mail, _ in batch]
    assert len(taken) == len(set(taken))
    # Whatever SKIP LOCKED left to the concurrent claims is still claimable, exactly once.
    while more := await claims.claim_due(pg, 30, LEASE):
        taken += [mail.alert_id for mail, _ in more]
    assert len(taken) == len(set(taken)) == len(ids)
    leased = await pg.fetchval(
        "SELECT count(*) FROM alerts WHERE state = 'sending' AND id = ANY($1::uuid[])", ids
    )
    assert leased == len(ids)


async def test_a_claim_stays_index_driven_with_ten_thousand_queued(
    pg: asyncpg.Pool, school: School
) -> None:
    async with pg.acquire() as conn:
        await pile_of_queued_alerts(conn, school, 10_000)
        for n in range(5):
            await pile_of_queued_alerts(conn, await seed_school(conn, f"School {n}"), 100)
        await conn.execute("ANALYZE")
        # The plan, not the clock, is the stable check on a shared machine: no full scan of
        # alerts anywhere (the backlog is read through the per-school index, locked by pkey).
        tx = conn.transaction()
        await tx.start()
        plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + claims._CLAIM, 100, LEASE)
        await tx.rollback()
    assert not [
        n
        for n in _nodes(json.loads(plan)[0]["Plan"])
        if n["Node Type"] == "Seq Scan" and n["Relation Name"] == "alerts"
    ]
    taken: set[object] = set()
    for _ in range(10):
        batch = await claims.claim_due(pg, 100, LEASE)
        assert len(batch) == 100
        taken |= {mail.alert_id for mail, _ in batch}
    assert len(taken) == 1000  # ten full claims, none taking an alert twice


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for child in node.get("Plans", []) for n in _nodes(child)]
