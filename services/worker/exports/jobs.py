"""The worker's `export` job: make one export, store it, say it is ready.

Safe to run twice: the claim is a guarded UPDATE (queued, or running with its lease run out),
so a second run finds nothing to do. A transient failure (PostgreSQL or Redis away) becomes
`arq.Retry`; anything else fails the export with its reason written down. Rendering has its
own budget below the worker's uniform job timeout, so the final state is always ours to write.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import aiosmtplib
import asyncpg
import structlog
from arq import Retry

from services.worker.exports import (
    chronology,
    governors,
    ofsted,
    pdf,
    ready_email,
    rows,
    sar,
    store,
)
from services.worker.failures import TRANSIENT_ERRORS, backoff
from shared.config import Settings

log = structlog.get_logger(__name__)

KINDS: dict[str, Any] = {
    "chronology": chronology,
    "governors": governors,
    "ofsted": ofsted,
    "sar": sar,
}
RENDER_SECONDS = 15.0  # below services.worker.main.JOB_TIMEOUT_SECONDS
LEASE_SECONDS = 40.0  # past the job timeout: a live run is never taken over
MAX_ATTEMPTS = 3
TOO_SLOW = (
    f"It took longer than {int(RENDER_SECONDS)} seconds to make. Ask for a shorter range or "
    "fewer categories, or a CSV."
)


async def run_export(ctx: dict[str, Any], export_id: str) -> str:
    """Returns what happened: done, failed or skipped (nothing to do)."""
    pool: asyncpg.Pool = ctx["pg"]
    try:
        async with pool.acquire() as conn:
            export = await rows.claim(conn, uuid.UUID(export_id), LEASE_SECONDS, MAX_ATTEMPTS)
    except TRANSIENT_ERRORS as e:
        raise _retry(ctx, export_id, e) from e
    if export is None:
        return "skipped"
    try:
        return await _make(ctx["settings"], pool, export)
    except TRANSIENT_ERRORS as e:
        await _release(pool, export["id"])
        raise _retry(ctx, export_id, e) from e


def _retry(ctx: dict[str, Any], export_id: str, e: BaseException) -> Retry:
    delay = backoff(ctx.get("job_try", 1))
    log.warning("export_retry", export_id=export_id, error=repr(e), retry_in=round(delay, 2))
    return Retry(defer=delay)


async def _release(pool: asyncpg.Pool, export_id: uuid.UUID) -> None:
    """Best effort: hand the export back for the retry (else it waits out its lease)."""
    try:
        async with pool.acquire() as conn:
            await rows.release(conn, export_id)
    except TRANSIENT_ERRORS as e:
        log.warning("export_release_failed", export_id=str(export_id), error=repr(e))


async def _make(settings: Settings, pool: asyncpg.Pool, export: asyncpg.Record) -> str:
    export_id = export["id"]
    budget = asyncio.timeout(RENDER_SECONDS)
    try:
        async with budget:
            made = await make(pool, export)
    except TimeoutError:
        if not budget.expired():
            raise  # the database's, not ours: transient
        await _fail(pool, export_id, TOO_SLOW)
        return "failed"
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        log.exception("export_failed", export_id=str(export_id), kind=export["kind"])
        await _fail(pool, export_id, "The export could not be made. Ask for it again.")
        raise
    stored = await store.write(settings.files_dir, export["school_id"], export_id, made.data)
    digest = hashlib.sha256(made.data).digest()
    try:
        async with pool.acquire() as conn:
            finished = await rows.finish(
                conn, export_id, made, digest, stored, settings.export_retention_days
            )
    except BaseException:
        await store.remove(stored)
        raise
    if finished is None:  # another run got there first
        await store.remove(stored)
        return "skipped"
    log.info("export_done", export_id=str(export_id), kind=export["kind"], bytes=len(made.data))
    await send_ready_email(settings, pool, export_id)
    return "done"


async def _fail(pool: asyncpg.Pool, export_id: uuid.UUID, reason: str) -> None:
    async with pool.acquire() as conn:
        await rows.fail(conn, export_id, reason)


async def make(pool: asyncpg.Pool, export: asyncpg.Record) -> rows.Made:
    """Load the export's data, then render it (in a thread), reporting progress as it goes."""
    kind = KINDS[export["kind"]]
    export_id = export["id"]
    async with pool.acquire() as conn:
        data = await kind.gather(conn, export)
        await rows.progress(conn, export_id, 30)
    context = await asyncio.to_thread(kind.context, data)
    name = kind.filename(data, export["format"])
    if export["format"] == "csv":
        return rows.Made(name, "text/csv; charset=utf-8", kind.csv(context))
    markup = await asyncio.to_thread(pdf.html, kind.TEMPLATE, context)
    await _progress(pool, export_id, 45)
    document = await asyncio.to_thread(pdf.layout, markup)
    await _progress(pool, export_id, 80)
    return rows.Made(name, "application/pdf", await asyncio.to_thread(pdf.write, document))


async def _progress(pool: asyncpg.Pool, export_id: uuid.UUID, percent: int) -> None:
    async with pool.acquire() as conn:
        await rows.progress(conn, export_id, percent)


_CLAIM_EMAIL = """
UPDATE exports e SET emailed_at = now()
FROM staff s
WHERE e.id = $1 AND e.state = 'done' AND e.emailed_at IS NULL
  AND s.id = e.requested_by AND s.active
RETURNING s.email"""

_UNCLAIM_EMAIL = "UPDATE exports SET emailed_at = NULL WHERE id = $1"


async def send_ready_email(settings: Settings, pool: asyncpg.Pool, export_id: uuid.UUID) -> bool:
    """Claimed before sending (a run after a crash in between sends nothing: the page still
    shows the export); handed back to the sweep when the mail server refuses or is away."""
    async with pool.acquire() as conn:
        to = await conn.fetchval(_CLAIM_EMAIL, export_id)
    if to is None:
        return False
    try:
        await ready_email.send(settings, to, export_id)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
        log.warning("export_email_failed", export_id=str(export_id), error=repr(e))
        async with pool.acquire() as conn:
            await conn.execute(_UNCLAIM_EMAIL, export_id)
        return False
    return True
