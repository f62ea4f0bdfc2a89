"""The notifier's arq side: `deliver(event_id)` is a doorbell for the engine's pump.

The job does not pick "its" alerts: it asks for a pass over everything due, so an urgent alert
goes before a deep routine backlog whichever event rang. It waits for that pass (bounded), so a
burst worker in a test returns only when the alerts are sent, and is safe to run any number of
times: the state lives in PostgreSQL.
"""

from __future__ import annotations

import warnings
from typing import Any

import structlog
from arq import Worker
from arq.worker import func
from redis.exceptions import RedisError

from services.notifier.engine import Engine
from shared import queue
from shared.config import Settings

log = structlog.get_logger(__name__)

# Short and uniform (a killed job is retried only after the longest timeout + 10 s). The job
# stops waiting well before it: the pump finishes the pass on its own.
JOB_TIMEOUT_SECONDS = 20
DELIVER_WAIT_SECONDS = 10.0


async def deliver(ctx: dict[str, Any], event_id: int) -> bool:
    """True when a full pass ran after the doorbell; False if it is still running."""
    engine: Engine = ctx["engine"]
    finished = await engine.deliver_due(wait=DELIVER_WAIT_SECONDS)
    if not finished:
        log.info("deliver_pass_still_running", event_id=event_id)
    return finished


def build_worker(settings: Settings, engine: Engine, **overrides: Any) -> Worker:
    """The Worker exactly as `beacon notifier` runs it; tests pass burst=True, poll_delay=0."""
    kwargs: dict[str, Any] = {
        "functions": [func(deliver, name=queue.DELIVER)],
        "queue_name": queue.NOTIFIER_QUEUE,
        "redis_settings": queue.redis_settings(settings.redis_url),
        "job_serializer": queue.serialize,
        "job_deserializer": queue.deserialize,
        "ctx": {"engine": engine},
        "handle_signals": False,  # aiohttp owns the signals; the app's cleanup stops us
        "poll_delay": settings.worker_poll_delay,
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        # No kept result: it would refuse the next enqueue of the same job id.
        "keep_result": 0,
    }
    return Worker(**{**kwargs, **overrides})


async def close_worker(worker: Worker) -> None:
    """arq's close(), safe when Redis is gone; stops the jobs waiting on the pump."""
    try:
        with warnings.catch_warnings():
            # arq 0.28 calls redis' deprecated close(); nothing for us to change.
            warnings.simplefilter("ignore", DeprecationWarning)
            await worker.close()
    except (RedisError, OSError) as e:
        log.warning("notifier_worker_close_failed", error=repr(e))
