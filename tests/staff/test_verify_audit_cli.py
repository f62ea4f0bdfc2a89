"""`beacon admin verify-audit`, run as the real command: exit 0 while the log is intact, non-zero
(naming the problem) after an entry is altered or the newest one deleted."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.conftest import incident
from tests.staff.client import staff_app
from tests.support.world import seed_school

BEACON = str(Path(sys.executable).with_name("beacon"))


@pytest.fixture
async def client(settings):
    async with staff_app(settings) as c:
        yield c


async def verify_audit(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return await asyncio.to_thread(
        subprocess.run,
        [BEACON, "admin", "verify-audit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _tamper(pg, statement: str) -> None:
    """What someone with superuser rights could do: switch the trigger off and edit."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(statement)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


async def _viewed_three_times(client, pg) -> None:
    school = await seed_school(pg, "Riverside Primary")
    r = await client.post("/v1/incidents", json=incident(), headers=school.headers)
    for _ in range(3):
        assert (await client.get(r.headers["Location"], headers=school.headers)).status == 200
    assert await pg.fetchval("SELECT count(*) FROM audit_log WHERE action = 'incident.view'") == 3


async def test_clean_log_exits_zero_and_an_altered_entry_does_not(client, pg, database_url):
    await _viewed_three_times(client, pg)
    clean = await verify_audit(database_url)
    assert clean.returncode == 0, clean.stderr
    assert "3 entries, 0 problems" in clean.stdout
    await _tamper(pg, "UPDATE audit_log SET ip = '203.0.113.9' WHERE seq = 2")
    tampered = await verify_audit(database_url)
    assert tampered.returncode != 0
    assert "seq 2: altered" in tampered.stderr


async def test_deleting_the_newest_entry_is_caught(client, pg, database_url):
    await _viewed_three_times(client, pg)
    await _tamper(pg, "DELETE FROM audit_log WHERE seq = 3")
    result = await verify_audit(database_url)
    assert result.returncode != 0
    assert "truncated" in result.stderr
