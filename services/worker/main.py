"""The worker service: an arq worker (no HTTP port) resolving outbox events into alerts and
making exports, with the outbox relay, escalation and the export pass running beside it as
background loops.

    beacon worker          -> run(settings)
    beacon worker --check  -> health.check(settings)

Tests build the same worker with `build_worker(settings, burst=True, poll_delay=0)`.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import asyncpg
import structlog
from arq import Worker
from arq.worker import func

from services.worker import background, escalation, relay
from services.worker.exports import passes as export_passes
from services.worker.exports import sar_reminders
from services.worker.exports.jobs import run_export
from services.worker.failures import TRANSIENT_ERRORS
from services.worker.health import HEALTH_INTERVAL_SECONDS, HEALTH_KEY
from services.worker.jobs import resolve_event
from services.worker.notifier_bell import NotifierBell
from shared import database, queue
from shared.config import Settings

log = structlog.get_logger(__name__)

# Short and uniform: a killed job is picked up again only when its in-progress key expires,
# after the longest registered timeout + 10 s (python-arq/arq#402). Resolution takes ms.
JOB_TIMEOUT_SECONDS = 20
# Every start counts, kills included. Past this the job fails for good and the relay rings
# the event again, so this only bounds one burst of retries.
MAX_TRIES = 25
ESCALATION_INTERVAL_SECONDS = 2.0
EXPORT_PASS_INTERVAL_SECONDS = 5.0
SAR_REMINDER_INTERVAL_SECONDS = 60.0
RESTART_DELAY_SECONDS = 2.0


def worker_settings(settings: Settings, background_loops: bool = False) -> dict[str, Any]:
    return {
        "functions": [
            func(resolve_event, name=queue.RESOLVE_EVENT),
            func(run_export, name=queue.EXPORT),
        ],
        "queue_name": queue.WORKER_QUEUE,
        "redis_settings": queue.redis_settings(settings.redis_url),
        "job_serializer": queue.serialize,
        "job_deserializer": queue.deserialize,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "ctx": {"settings": settings, "background_loops": background_loops},
        "poll_delay": settings.worker_poll_delay,
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        # No kept result: it would make arq refuse the relay's re-enqueue of the same job id.
        "keep_result": 0,
        "max_tries": MAX_TRIES,
        "health_check_key": HEALTH_KEY,
        "health_check_interval": HEALTH_INTERVAL_SECONDS,
    }


def build_worker(settings: Settings, background_loops: bool = False, **overrides: Any) -> Worker:
    """A Worker with the production functions and hooks; `ctx` overrides are merged (a test
    may inject its own "pg" pool, which it then owns)."""
    kwargs = worker_settings(settings, background_loops)
    kwargs["ctx"].update(overrides.pop("ctx", {}))
    return Worker(**{**kwargs, **overrides})


async def on_startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    if "pg" not in ctx:
        ctx["pg"] = await _pool(settings)
        ctx["owns_pg"] = True
    ctx["notifier_bell"] = NotifierBell(ctx["redis"])
    await queue.warn_if_redis_unsafe(ctx["redis"])
    ctx["tasks"] = _start_loops(ctx) if ctx.get("background_loops") else []


async def _pool(settings: Settings) -> asyncpg.Pool:
    return await database.create_pool(settings.database_url, settings.db_pool_size)


def _start_loops(ctx: dict[str, Any]) -> list[asyncio.Task[None]]:
    settings: Settings = ctx["settings"]
    pool, redis = ctx["pg"], ctx["redis"]
    return [
        background.start(settings.relay_interval, "relay", lambda: relay.relay_once(pool, redis)),
        background.start(
            min(ESCALATION_INTERVAL_SECONDS, settings.escalation_seconds / 2),
            "escalation",
            lambda: escalation.escalation_pass(
                pool, redis, settings.escalation_seconds, settings.escalation_end_margin
            ),
        ),
        background.start(
            EXPORT_PASS_INTERVAL_SECONDS,
            "exports",
            lambda: export_passes.export_pass(settings, pool, redis),
        ),
        background.start(
            SAR_REMINDER_INTERVAL_SECONDS,
            "sar-reminders",
            lambda: sar_reminders.reminder_pass(settings, pool),
        ),
    ]


async def on_shutdown(ctx: dict[str, Any]) -> None:
    """Idempotent: run() calls it again when arq's close() stopped before reaching it."""
    await background.stop(ctx.pop("tasks", []))
    if ctx.pop("owns_pg", False):
        await ctx.pop("pg").close()


def run(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT. Losing Redis or PostgreSQL restarts the worker in-process
    with a fresh connection (arq stops consuming after a Redis restart, arq#435/#498)."""
    while True:
        try:
            asyncio.run(_serve(settings))
            return
        except TRANSIENT_ERRORS as e:
            log.error("worker_restarting", error=repr(e), delay=RESTART_DELAY_SECONDS)
            time.sleep(RESTART_DELAY_SECONDS)


async def _serve(settings: Settings) -> None:
    worker = build_worker(settings, background_loops=True)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        log.info("worker_stopping")  # arq cancels its main task on SIGTERM/SIGINT
    finally:
        await close_worker(worker)


async def close_worker(worker: Worker) -> None:
    """arq's close(), made safe to call when Redis is gone; shutdown hooks always run."""
    interrupted: tuple[type[BaseException], ...] = (asyncio.CancelledError, *TRANSIENT_ERRORS)
    try:
        with warnings.catch_warnings():
            # arq 0.26-0.28 call redis' deprecated close(); nothing for us to change.
            warnings.simplefilter("ignore", DeprecationWarning)
            await worker.close()
    except interrupted as e:
        log.warning("worker_close_incomplete", error=repr(e))
    finally:
        await on_shutdown(worker.ctx)
