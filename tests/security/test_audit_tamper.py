"""Tampering with the audit log as a database superuser, and the views it must record.

The attacker owns PostgreSQL: they switch the append-only triggers off, delete what they want
forgotten and re-hash everything after it (the chain's algorithm is no secret), and fix
`audit_heads`. What they do not have is the audit key (BEACON_AUDIT_KEY, or one derived from
BEACON_SECRET_KEY), nor the checkpoints `beacon admin audit-checkpoint` gave a witness.
`beacon admin verify-audit` must say so, and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared import audit
from tests.security.conftest import World

BEACON = str(Path(sys.executable).with_name("beacon"))


@pytest.fixture
def beacon_env(env: dict[str, str]) -> dict[str, str]:
    """What an operator's `beacon admin` gets: the database and the keys, nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": env["DATABASE_URL"],
        "BEACON_SECRET_KEY": env["BEACON_SECRET_KEY"],
    }


async def beacon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [BEACON, "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def viewed(world: World, times: int = 6) -> uuid.UUID:
    """`times` audited views of an incident by the home school's API key; its school id."""
    path = f"/v1/incidents/{world.home.incidents['ordinary']}"
    for _ in range(times):
        assert (await world.ingest.get(path, headers=world.home.headers)).status == 200
    return world.home.id


async def checkpoint(env: dict[str, str], out: Path, pg: asyncpg.Pool, school: uuid.UUID) -> int:
    """A checkpoint appended to `out`; the seq of `school`'s head it signed."""
    done = await beacon(env, "audit-checkpoint", "--out", str(out))
    assert done.returncode == 0, done.stderr
    seq: int = await pg.fetchval("SELECT seq FROM audit_heads WHERE school_id = $1", school)
    return seq


async def as_superuser(pg: asyncpg.Pool, *statements: tuple[str, tuple[Any, ...]]) -> None:
    async with pg.acquire() as conn, conn.transaction():
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        for sql, args in statements:
            await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


async def delete_and_rehash(
    pg: asyncpg.Pool, school: uuid.UUID, doomed: set[int], strip_macs: bool = False
) -> None:
    """Delete entries `doomed`, renumber and re-hash the rest as the code does, and move the
    head: exactly what passed `verify-audit` with "0 problems" before entries carried a MAC."""
    rows = await pg.fetch("SELECT * FROM audit_log WHERE school_id = $1 ORDER BY seq", school)
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("DELETE FROM audit_log WHERE school_id = $1 AND seq = ANY($2)", (school, list(doomed)))
    ]
    prev, seq = audit.GENESIS, 0
    for row in rows:
        if row["seq"] in doomed:
            continue
        seq += 1
        digest = audit.entry_hash(prev, {**audit._row_entry(row), "seq": seq})
        mac = "NULL" if strip_macs else "mac"
        key = "NULL" if strip_macs else "key_id"
        statements.append(
            (
                f"UPDATE audit_log SET seq = $2, prev_hash = $3, hash = $4, mac = {mac},"  # noqa: S608
                f" key_id = {key} WHERE id = $1",
                (row["id"], seq, prev, digest),
            )
        )
        prev = digest
    statements.append(
        ("UPDATE audit_heads SET seq = $2, hash = $3 WHERE school_id = $1", (school, seq, prev))
    )
    await as_superuser(pg, *statements)


# -- every entry carries a MAC ------------------------------------------------------------


async def test_every_entry_carries_a_mac_under_a_key_id(world: World, beacon_env) -> None:
    await viewed(world, 2)
    rows = await world.pg.fetch("SELECT key_id, mac FROM audit_log")
    assert rows and all(r["key_id"] == "k1" and len(r["mac"]) == 32 for r in rows)
    done = await beacon(beacon_env, "verify-audit")
    assert done.returncode == 0, done.stderr
    assert "0 problems" in done.stdout and "MACs checked" in done.stdout


# -- the attack of the pen test -----------------------------------------------------------


async def test_deleting_and_rehashing_as_a_superuser_is_caught(
    world: World, beacon_env, tmp_path: Path
) -> None:
    school = await viewed(world)
    witness = tmp_path / "audit-checkpoints.jsonl"
    signed = await checkpoint(beacon_env, witness, world.pg, school)
    await delete_and_rehash(world.pg, school, {3})
    # The plain chain is whole again: only the key and the witness can tell.
    async with world.pg.acquire() as conn:
        assert await audit.verify(conn, school) == []

    done = await beacon(beacon_env, "verify-audit")
    assert done.returncode == 1
    assert f"school {school} seq 3: bad_mac" in done.stderr
    assert "re-hashed or forged without the audit key" in done.stderr

    done = await beacon(beacon_env, "verify-audit", "--checkpoint", str(witness))
    assert done.returncode == 1
    assert f"school {school} seq {signed}: checkpoint" in done.stderr
    assert "deleted" in done.stderr


async def test_stripping_the_macs_as_well_is_caught_by_the_checkpoint(
    world: World, beacon_env, tmp_path: Path
) -> None:
    school = await viewed(world)
    witness = tmp_path / "audit-checkpoints.jsonl"
    signed = await checkpoint(beacon_env, witness, world.pg, school)
    await delete_and_rehash(world.pg, school, {2, 3}, strip_macs=True)
    done = await beacon(beacon_env, "verify-audit", "--checkpoint", str(witness))
    assert done.returncode == 1
    assert f"school {school} seq {signed}: checkpoint" in done.stderr


async def test_stripping_one_mac_reports_an_unkeyed_entry(world: World, beacon_env) -> None:
    school = await viewed(world, 4)
    await as_superuser(
        world.pg,
        (
            "UPDATE audit_log SET mac = NULL, key_id = NULL WHERE school_id = $1 AND seq = 3",
            (school,),
        ),
    )
    done = await beacon(beacon_env, "verify-audit")
    assert done.returncode == 1
    assert f"school {school} seq 3: unkeyed" in done.stderr


async def test_entries_from_before_keys_are_checked_by_hash_alone(world: World, beacon_env) -> None:
    school = await viewed(world, 4)
    await as_superuser(  # as migration 0009 found them: no key id, no MAC
        world.pg,
        ("UPDATE audit_log SET mac = NULL, key_id = NULL WHERE seq <= 2", ()),
    )
    done = await beacon(beacon_env, "verify-audit")
    assert done.returncode == 0, done.stderr
    await as_superuser(
        world.pg,
        ("UPDATE audit_log SET ip = '203.0.113.9' WHERE school_id = $1 AND seq = 1", (school,)),
    )
    done = await beacon(beacon_env, "verify-audit")
    assert done.returncode == 1 and f"school {school} seq 1: altered" in done.stderr


async def test_deleting_the_newest_entries_and_the_head_is_caught_by_the_checkpoint(
    world: World, beacon_env, tmp_path: Path
) -> None:
    school = await viewed(world)
    witness = tmp_path / "audit-checkpoints.jsonl"
    signed = await checkpoint(beacon_env, witness, world.pg, school)
    await as_superuser(
        world.pg,
        ("DELETE FROM audit_log WHERE school_id = $1 AND seq >= 5", (school,)),
        (
            """UPDATE audit_heads h SET seq = l.seq, hash = l.hash FROM audit_log l
               WHERE h.school_id = $1 AND l.school_id = $1 AND l.seq = 4""",
            (school,),
        ),
    )
    done = await beacon(beacon_env, "verify-audit", "--checkpoint", str(witness))
    assert done.returncode == 1
    assert f"school {school} seq {signed}: checkpoint" in done.stderr


async def test_deleting_a_whole_chain_is_caught_by_the_checkpoint(
    world: World, beacon_env, tmp_path: Path
) -> None:
    school = await viewed(world)
    witness = tmp_path / "audit-checkpoints.jsonl"
    signed = await checkpoint(beacon_env, witness, world.pg, school)
    await as_superuser(
        world.pg,
        ("DELETE FROM audit_log WHERE school_id = $1", (school,)),
        ("DELETE FROM audit_heads WHERE school_id = $1", (school,)),
    )
    done = await beacon(beacon_env, "verify-audit", "--checkpoint", str(witness))
    assert done.returncode == 1
    assert f"school {school} seq {signed}: checkpoint" in done.stderr


async def test_a_checkpoint_edited_to_match_the_forgery_is_refused(
    world: World, beacon_env, tmp_path: Path
) -> None:
    school = await viewed(world)
    witness = tmp_path / "audit-checkpoints.jsonl"
    await checkpoint(beacon_env, witness, world.pg, school)
    await delete_and_rehash(world.pg, school, {3}, strip_macs=True)
    head = await world.pg.fetchrow("SELECT seq, hash FROM audit_heads WHERE school_id = $1", school)
    lines = [json.loads(line) for line in witness.read_text().splitlines()]
    for line in lines:
        if line["school_id"] == str(school):
            line.update(seq=head["seq"], hash=bytes(head["hash"]).hex())
    witness.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = await beacon(beacon_env, "verify-audit", "--checkpoint", str(witness))
    assert done.returncode == 1
    assert "not signed by a known audit key" in done.stderr


async def test_checkpoints_append_signed_heads_and_need_a_key(
    world: World, beacon_env, tmp_path: Path
) -> None:
    school = await viewed(world, 2)
    witness = tmp_path / "audit-checkpoints.jsonl"
    first = await checkpoint(beacon_env, witness, world.pg, school)
    await viewed(world, 1)
    second = await checkpoint(beacon_env, witness, world.pg, school)
    lines = [json.loads(line) for line in witness.read_text().splitlines()]
    mine = [line for line in lines if line["school_id"] == str(school)]
    assert [line["seq"] for line in mine] == [first, second] and second == first + 1
    assert {"school_id", "seq", "hash", "at", "key_id", "mac"} <= set(mine[0])
    keyless = {k: v for k, v in beacon_env.items() if k != "BEACON_SECRET_KEY"}
    done = await beacon(keyless, "audit-checkpoint")
    assert done.returncode == 2 and "BEACON_AUDIT_KEY" in done.stderr
    to_stdout = await beacon(beacon_env, "audit-checkpoint")
    assert to_stdout.returncode == 0
    assert json.loads(to_stdout.stdout.splitlines()[0])["key_id"] == "k1"


async def test_an_audit_key_of_its_own_is_used_and_needed(
    world: World, beacon_env, settings, tmp_path: Path
) -> None:
    import dataclasses

    from aiohttp.test_utils import TestClient, TestServer

    from services.ingest.main import create_app

    audit_key = "audit-key-kept-off-the-database-host-0123456789"
    keyed = dataclasses.replace(settings, audit_key=audit_key, api_key_rate=0)
    async with TestClient(TestServer(create_app(keyed))) as ingest:
        path = f"/v1/incidents/{world.home.incidents['ordinary']}"
        assert (await ingest.get(path, headers=world.home.headers)).status == 200
    rows = await world.pg.fetch("SELECT key_id FROM audit_log WHERE action = 'incident.view'")
    assert len({r["key_id"] for r in rows}) == 1 and rows[0]["key_id"] != "k1"
    done = await beacon({**beacon_env, "BEACON_AUDIT_KEY": audit_key}, "verify-audit")
    assert done.returncode == 0, done.stderr
    done = await beacon(beacon_env, "verify-audit")
    assert done.returncode == 1 and "unknown_key" in done.stderr


async def test_verifying_without_a_key_says_the_macs_were_not_checked(
    world: World, beacon_env
) -> None:
    await viewed(world, 1)
    keyless = {k: v for k, v in beacon_env.items() if k != "BEACON_SECRET_KEY"}
    done = await beacon(keyless, "verify-audit")
    assert done.returncode == 0
    assert "MACs not checked" in done.stderr


# -- the notifier's views are audited -----------------------------------------------------


async def actions(world: World) -> list[tuple[str, str | None, str, str | None]]:
    rows = await world.pg.fetch(
        """SELECT l.action, s.external_id, l.subject_type, l.subject_id FROM audit_log l
           LEFT JOIN staff s ON s.id = l.actor_staff_id
           WHERE l.action LIKE 'alert%' ORDER BY l.id"""
    )
    return [(r["action"], r["external_id"], r["subject_type"], r["subject_id"]) for r in rows]


async def test_the_status_api_audits_every_view_and_read(world: World) -> None:
    home, incident = world.home, world.home.incidents["ordinary"]
    alert = home.alerts[("ordinary", "S08")]
    r = await world.notifier.get(f"/v1/incidents/{incident}/alerts", headers=home.headers)
    assert r.status == 200
    assistant = world.on_notifier(await world.browser("S08"))
    assert (await assistant.request("GET", "/v1/staff/S08/alerts")).status == 200
    assert (await assistant.request("POST", f"/v1/alerts/{alert}/read")).status == 200
    assert await actions(world) == [
        ("alerts.view_incident", None, "incident", str(incident)),
        ("alerts.view_staff", "S08", "staff", str(home.staff["S08"])),
        ("alert.read", "S08", "alert", str(alert)),
    ]
    key_row = await world.pg.fetchrow(
        "SELECT actor_api_key_id, ip FROM audit_log WHERE action = 'alerts.view_incident'"
    )
    assert key_row["actor_api_key_id"] == home.key_id and key_row["ip"] is not None


async def test_denied_status_api_requests_leave_no_entry(world: World) -> None:
    home = world.home
    teacher = world.on_notifier(await world.browser("S07"))  # not alerted, not her class
    restricted = home.incidents["restricted"]
    assert (await teacher.request("GET", f"/v1/incidents/{restricted}/alerts")).status == 404
    assert (await teacher.request("GET", "/v1/staff/S08/alerts")).status == 404
    other = home.alerts[("ordinary", "S08")]
    assert (await teacher.request("POST", f"/v1/alerts/{other}/read")).status == 404
    assert await actions(world) == []
