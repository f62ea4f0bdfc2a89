"""The worker's arq job: resolve one outbox event, then ring the notifier.

arq runs a job more than once (retries, kills, the relay ringing again); resolution is
idempotent, so that is harmless. Only `Retry` re-queues a job, so transient failures are
turned into one; anything else fails the job and the relay hands the event over again later.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq import Retry

from services.worker import recipients
from services.worker.failures import TRANSIENT_ERRORS, backoff

log = structlog.get_logger(__name__)


async def resolve_event(ctx: dict[str, Any], event_id: int) -> int:
    """Returns the number of alerts created (0 on a re-run)."""
    try:
        async with ctx["pg"].acquire() as conn:
            result = await recipients.resolve(conn, event_id)
        if not result.found:
            log.warning("event_not_found", event_id=event_id)
            return 0
        # After commit: the notifier must find the alerts when it wakes.
        await ctx["notifier_bell"].ring(event_id)
    except TRANSIENT_ERRORS as e:
        delay = backoff(ctx.get("job_try", 1))
        log.warning("resolve_retry", event_id=event_id, error=repr(e), retry_in=round(delay, 2))
        raise Retry(defer=delay) from e
    log.info(
        "event_resolved",
        event_id=event_id,
        alerts=result.alerts,
        grants=result.grants,
        rerun=result.already_resolved,
    )
    return result.alerts
