"""The audit log: append-only, hash-chained per school, tampering detected."""

import asyncio
import uuid

import asyncpg
import pytest

from services.ingest.records.schools import create_school
from shared import audit


async def _school(pg) -> uuid.UUID:
    async with pg.acquire() as conn:
        return await create_school(conn, "Audit Primary")


async def _fill(pg, school_id, n=5):
    async with pg.acquire() as conn:
        for i in range(n):
            await audit.append(
                conn,
                school_id=school_id,
                action="incident.view",
                subject_type="incident",
                subject_id=str(i),
                ip="192.0.2.7",
                detail={"n": i, "tags": ["a", "b"], "ok": True},
            )


async def _tamper(pg, statement, *args):
    """What an attacker with superuser rights could do: switch the trigger off and edit."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(statement, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


async def test_intact_chains_verify_clean_and_the_cli_says_so(pg, database_url, capsys):
    school = await _school(pg)
    await _fill(pg, school)
    await _fill(pg, None, 2)
    async with pg.acquire() as conn:
        assert await audit.verify(conn) == []
        assert await audit.verify(conn, school) == []
        seqs = [
            r["seq"]
            for r in await conn.fetch(
                "SELECT seq FROM audit_log WHERE school_id = $1 ORDER BY id", school
            )
        ]
    assert seqs == [1, 2, 3, 4, 5]
    assert await audit.verify_audit_cli(database_url) == 0
    assert "7 entries, 0 problems" in capsys.readouterr().out


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET detail = '{}'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_the_log_refuses_changes(pg, statement):
    await _fill(pg, await _school(pg), 1)
    async with pg.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)


async def test_an_altered_row_is_detected(pg, database_url):
    school = await _school(pg)
    await _fill(pg, school)
    await _tamper(
        pg, "UPDATE audit_log SET ip = '198.51.100.1' WHERE school_id = $1 AND seq = 3", school
    )
    async with pg.acquire() as conn:
        problems = await audit.verify(conn)
    assert [(p.seq, p.kind) for p in problems] == [(3, "altered")]
    assert await audit.verify_audit_cli(database_url) == 1


async def test_an_altered_row_with_a_recomputed_hash_breaks_the_next_link(pg):
    school = await _school(pg)
    await _fill(pg, school)
    async with pg.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM audit_log WHERE school_id = $1 AND seq = 2", school
        )
    entry = {**audit._row_entry(row), "action": "nothing.to.see"}
    forged = audit.entry_hash(bytes(row["prev_hash"]), entry)
    await _tamper(
        pg,
        "UPDATE audit_log SET action = 'nothing.to.see', hash = $2 WHERE id = $1",
        row["id"],
        forged,
    )
    async with pg.acquire() as conn:
        problems = await audit.verify(conn, school)
    assert [(p.seq, p.kind) for p in problems] == [(3, "broken_link")]


async def test_a_deleted_row_is_detected(pg):
    school = await _school(pg)
    await _fill(pg, school)
    await _tamper(pg, "DELETE FROM audit_log WHERE school_id = $1 AND seq = 2", school)
    async with pg.acquire() as conn:
        problems = await audit.verify(conn)
    assert [(p.seq, p.kind) for p in problems] == [(3, "gap")]


async def test_deleting_the_newest_rows_is_detected(pg):
    school = await _school(pg)
    await _fill(pg, school)
    await _tamper(pg, "DELETE FROM audit_log WHERE school_id = $1 AND seq >= 4", school)
    async with pg.acquire() as conn:
        problems = await audit.verify(conn)
    assert [(p.seq, p.kind) for p in problems] == [(5, "truncated")]


async def test_concurrent_appends_keep_each_chain_linear(pg):
    school = await _school(pg)
    other = await _school(pg)

    async def writer(sid, n):
        async with pg.acquire() as conn:
            for _ in range(n):
                await audit.append(conn, school_id=sid, action="login.success")

    # Four writers per chain race for each chain's first entry (no head row to lock yet) and
    # then queue on the head row.
    await asyncio.gather(*(writer(s, 10) for s in (school, other, None) * 4))
    async with pg.acquire() as conn:
        assert await audit.verify(conn) == []
        assert (
            await conn.fetchval("SELECT max(seq) FROM audit_log WHERE school_id = $1", school) == 40
        )


async def test_an_entry_rolls_back_with_the_callers_transaction(pg):
    school = await _school(pg)
    async with pg.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await audit.append(conn, school_id=school, action="incident.view")
                raise RuntimeError("the audited work failed")
        await audit.append(conn, school_id=school, action="incident.view")
        assert await audit.verify(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1


def test_floats_are_refused_in_detail():
    with pytest.raises(TypeError):
        audit._checked({"score": 0.5})
    assert audit._checked({"a": [1, "x", None, {"b": False}]}) == {
        "a": [1, "x", None, {"b": False}]
    }
