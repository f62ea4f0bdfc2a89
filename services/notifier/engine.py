"""The delivery engine: claim due alerts from PostgreSQL, send them over the SMTP pool, record
the outcome.

One pump per process claims batches (priority first, fair across schools) whenever a `deliver`
doorbell rings, and at least every `sweep_interval` (the sweeper: retries that fell due, leases
that expired in a dead process, alerts whose doorbell Redis lost). Lanes take claimed alerts
from a short queue and send them; the queue bound keeps claims just ahead of the mail server, so a
lease never waits long and an urgent alert claimed next is never stuck behind a deep backlog.
Passes overlap: the pump claims again on the next ring while earlier alerts are still sending
(services/notifier/passes.py says when a pass is finished).

After the mail server's 250 the alert is committed `sent` within milliseconds, grouped with the
other 250s of that moment (services/notifier/sent_log.py), while the lane goes on to its next
alert: that is the only window in which a crash can cause a repeat, and the Message-ID stays
the same if it does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import asyncpg
import structlog
from prometheus_client import CollectorRegistry

from services.notifier import claims
from services.notifier.message import AlertMail, Composer
from services.notifier.metrics import NotifierMetrics
from services.notifier.passes import Passes
from services.notifier.sent_log import SentLog
from services.notifier.smtp_pool import MailServer, SendFailure, SmtpPool
from shared import database
from shared.config import Settings

log = structlog.get_logger(__name__)

# The pump claims and the sent log commits one statement at a time; the rest is for lanes
# recording failures.
ENGINE_POOL_SIZE = 4


@dataclass(frozen=True, slots=True)
class EngineOptions:
    batch_size: int = 100
    lease_seconds: float = 30.0
    sweep_interval: float = 0.5
    backoff_base: float = 1.0  # delay before retry n: base * 2^n s, jittered, capped
    backoff_cap: float = 300.0
    max_attempts: int = 8
    stop_grace: float = 5.0

    def backoff(self, attempts: int) -> float:
        delay = min(self.backoff_cap, self.backoff_base * 2.0**attempts)
        return delay / 2 + random.uniform(0, delay / 2)  # jitter spreads a mail server outage out


class Engine:
    def __init__(
        self,
        pg: asyncpg.Pool,
        smtp: SmtpPool,
        composer: Composer,
        metrics: NotifierMetrics,
        options: EngineOptions,
        lanes: int,
    ) -> None:
        self.pg, self.smtp, self.composer, self.metrics = pg, smtp, composer, metrics
        self.options = options
        self._lanes = lanes
        # Claims stay at most about one batch ahead of the lanes: a lease never waits long, and
        # an urgent alert claimed next waits behind at most this many.
        self._queue: asyncio.Queue[tuple[AlertMail, int, int]] = asyncio.Queue(
            maxsize=max(lanes, options.batch_size)
        )
        self._passes = Passes()
        self._sent = SentLog(pg, self._passes.close)
        self._wake = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Engine]:
        pump = asyncio.create_task(self._pump(), name="notifier-pump")
        lanes = [
            asyncio.create_task(self._lane(), name=f"notifier-lane-{i}") for i in range(self._lanes)
        ]
        try:
            yield self
        finally:
            await _cancel([pump])
            # Let claimed alerts finish and their `sent` commit; what is left keeps its lease
            # and is swept later.
            with suppress(TimeoutError):
                await asyncio.wait_for(self._settle(), self.options.stop_grace)
            await _cancel(lanes)
            await self.smtp.close()

    async def _settle(self) -> None:
        await self._queue.join()
        await self._sent.drain()

    def wake(self) -> None:
        self._wake.set()

    async def deliver_due(self, wait: float | None = None) -> bool:
        """Ring, then wait until a pass that started after this call has recorded the outcome
        of everything due. False if `wait` seconds passed first (the pass carries on)."""
        target = self._passes.started + 1
        self.wake()
        try:
            await asyncio.wait_for(self._passes.wait_done(target), wait)
        except TimeoutError:
            return False
        return True

    async def _pump(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.sweep_interval)
            self._wake.clear()
            number = self._passes.start()
            try:
                await self._claim_due()
            except database.QUERY_FAILED as e:
                # Nothing is lost: the rows stay due in PostgreSQL and the next tick retries.
                log.warning("delivery_pass_failed", error=repr(e))
            except Exception:
                # A bug must not stop every delivery of this process: log it loudly, keep
                # sweeping. (Claimed rows keep their lease and come back.)
                log.exception("delivery_pass_crashed")
            # Not waiting for the lanes: the next ring claims while these are still sending.
            self._passes.end(number)

    async def _claim_due(self) -> None:
        o = self.options
        while True:
            batch = await claims.claim_due(self.pg, o.batch_size, o.lease_seconds)
            for mail, attempts in batch:
                await self._queue.put((mail, attempts, self._passes.ticket()))
            if len(batch) < o.batch_size:
                return

    async def _lane(self) -> None:
        while True:
            mail, attempts, ticket = await self._queue.get()
            recorded_later = False
            try:
                recorded_later = await self._deliver(mail, attempts, ticket)
            except database.QUERY_FAILED as e:
                # The outcome could not be written: the lease expires and the alert is sent
                # again (a late duplicate beats a lost safeguarding alert).
                log.error(
                    "delivery_outcome_not_recorded", alert_id=str(mail.alert_id), error=repr(e)
                )
            except Exception:
                # A poison alert must not take a lane down with it: its lease expires, and
                # after max_attempts claims it is recorded failed.
                log.exception("delivery_crashed", alert_id=str(mail.alert_id))
            finally:
                if not recorded_later:
                    self._passes.close((ticket,))
                self._queue.task_done()

    async def _deliver(self, mail: AlertMail, attempts: int, ticket: int) -> bool:
        """True when the outcome is left to the sent log (which closes the ticket)."""
        if attempts > self.options.max_attempts:  # leases kept expiring: a crash loop
            await self._failed(mail, "exhausted", f"gave up after {attempts - 1} attempts")
            return False
        started = time.perf_counter()
        try:
            await self.smtp.send(self.composer.envelope_from, mail.to, self.composer.compose(mail))
        except SendFailure as f:
            await self._record_failure(mail, attempts, f)
            return False
        except ValueError as e:  # an address the message cannot be built for
            await self._failed(mail, "permanent", f"invalid recipient: {e}")
            return False
        self.metrics.send_seconds.observe(time.perf_counter() - started)
        self.metrics.sent.inc()
        await self._sent.add(mail.alert_id, ticket)
        return True

    async def _record_failure(self, mail: AlertMail, attempts: int, f: SendFailure) -> None:
        if f.permanent:
            await self._failed(mail, "permanent", f.reason)
        elif attempts >= self.options.max_attempts:
            await self._failed(mail, "exhausted", f"gave up after {attempts} attempts: {f.reason}")
        else:
            delay = self.options.backoff(attempts)
            await claims.mark_retrying(self.pg, mail.alert_id, delay, f.reason)
            self.metrics.failed.labels("transient").inc()
            log.info(
                "alert_retrying",
                alert_id=str(mail.alert_id),
                attempts=attempts,
                delay=round(delay, 1),
                reason=f.reason,
            )

    async def _failed(self, mail: AlertMail, kind: str, reason: str) -> None:
        await claims.mark_failed(self.pg, mail.alert_id, reason)
        self.metrics.failed.labels(kind).inc()
        log.warning("alert_failed", alert_id=str(mail.alert_id), kind=kind, reason=reason)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def build_engine(
    settings: Settings,
    pg: asyncpg.Pool,
    metrics: NotifierMetrics | None = None,
    options: EngineOptions | None = None,
) -> Engine:
    """The engine exactly as `beacon notifier` runs it; tests build theirs here too."""
    server = MailServer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_timeout,
        settings.smtp_username,
        settings.smtp_password,
        settings.smtp_starttls,
    )
    options = options or EngineOptions(
        max_attempts=settings.send_max_attempts,
        lease_seconds=max(30.0, 2 * settings.smtp_timeout + 10),
    )
    metrics = metrics or NotifierMetrics(CollectorRegistry())
    return Engine(
        pg,
        SmtpPool(server, settings.smtp_connections),
        Composer(settings.smtp_from, settings.base_url),
        metrics,
        options,
        # A few more lanes than connections: a lane recording a failure or composing
        # must not leave a connection idle. The pool still bounds the connections.
        lanes=2 * settings.smtp_connections,
    )


async def engine_pool(settings: Settings) -> asyncpg.Pool:
    """The engine's own few connections (claims, group commits, failures) as `beacon notifier`
    opens them, apart from the status API's so neither waits behind the other; benches use it
    too."""
    return await database.create_pool(settings.database_url, ENGINE_POOL_SIZE, min_size=2)
