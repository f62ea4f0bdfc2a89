"""The delivery engine: claim due alerts from PostgreSQL, send them over the SMTP pool, record
the outcome.

One pump per process claims batches (priority first, fair across schools) whenever a `deliver`
doorbell rings, and at least every `sweep_interval` (the sweeper: retries that fell due, leases
that expired in a dead process, alerts whose doorbell Redis lost). Lanes take claimed alerts
from a short queue and send them; the queue bound keeps claims just ahead of the relay, so a
lease never waits long and an urgent alert claimed next is never stuck behind a deep backlog.

After the relay's 250 the alert is committed `sent` at once, grouped with whatever other sends
finished during the previous commit (one round trip at most): that is the only window in which a
crash can cause a repeat, and the Message-ID stays the same if it does.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import asyncpg
import structlog
from prometheus_client import CollectorRegistry

from services.notifier import claims
from services.notifier.message import AlertMail, Composer
from services.notifier.metrics import NotifierMetrics
from services.notifier.smtp_pool import RelaySettings, SendFailure, SmtpPool
from shared.config import Settings

log = structlog.get_logger(__name__)


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
        delay = min(self.backoff_cap, self.backoff_base * 2.0 ** attempts)
        return delay / 2 + random.uniform(0, delay / 2)  # jitter spreads a relay outage out


class Engine:
    def __init__(self, pg: asyncpg.Pool, smtp: SmtpPool, composer: Composer,
                 metrics: NotifierMetrics, options: EngineOptions, lanes: int) -> None:
        self.pg, self.smtp, self.composer, self.metrics = pg, smtp, composer, metrics
        self.options = options
        self._lanes = lanes
        # One batch may wait here while the next is claimed, so a slow claim never starves the
        # connections; claimed alerts still wait at most about two batches for a lane.
        self._queue: asyncio.Queue[tuple[AlertMail, int]] = asyncio.Queue(
            maxsize=max(lanes, options.batch_size))
        self._sent = SentLog(pg)
        self._doorbell = asyncio.Event()
        self._changed = asyncio.Condition()
        self._passes_started = self._passes_done = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Engine]:
        pump = asyncio.create_task(self._pump(), name="notifier-pump")
        lanes = [asyncio.create_task(self._lane(), name=f"notifier-lane-{i}")
                 for i in range(self._lanes)]
        try:
            yield self
        finally:
            await _cancel([pump])
            # Let claimed alerts finish; what is left keeps its lease and is swept later.
            with suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self.options.stop_grace)
            await _cancel(lanes)
            await self.smtp.close()

    def ring(self) -> None:
        self._doorbell.set()

    async def deliver_due(self, wait: float | None = None) -> bool:
        """Ring, then wait until a pass that started after this call has sent everything due.
        False if `wait` seconds passed first (the pass carries on without us)."""
        target = self._passes_started + 1
        self.ring()
        try:
            await asyncio.wait_for(self._wait_for_pass(target), wait)
        except TimeoutError:
            return False
        return True

    async def _wait_for_pass(self, target: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._passes_done >= target)

    async def _pump(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._doorbell.wait(), self.options.sweep_interval)
            self._doorbell.clear()
            self._passes_started += 1
            try:
                await self._pass()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as e:
                # Nothing is lost: the rows stay due in PostgreSQL and the next tick retries.
                log.warning("delivery_pass_failed", error=repr(e))
            except Exception:
                # A bug must not stop every delivery of this process: log it loudly, keep
                # sweeping. (Claimed rows keep their lease and come back.)
                log.exception("delivery_pass_crashed")
            async with self._changed:
                self._passes_done = self._passes_started
                self._changed.notify_all()

    async def _pass(self) -> None:
        o = self.options
        while True:
            batch = await claims.claim_due(self.pg, o.batch_size, o.lease_seconds)
            for item in batch:
                await self._queue.put(item)
            if len(batch) < o.batch_size:
                break
        await self._queue.join()

    async def _lane(self) -> None:
        while True:
            mail, attempts = await self._queue.get()
            try:
                await self._deliver(mail, attempts)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as e:
                # The outcome could not be written: the lease expires and the alert is sent
                # again (a late duplicate beats a lost safeguarding alert).
                log.error("delivery_outcome_not_recorded", alert_id=str(mail.alert_id),
                          error=repr(e))
            except Exception:
                # A poison alert must not take a lane down with it: its lease expires, and
                # after max_attempts claims it is recorded failed.
                log.exception("delivery_crashed", alert_id=str(mail.alert_id))
            finally:
                self._queue.task_done()

    async def _deliver(self, mail: AlertMail, attempts: int) -> None:
        if attempts > self.options.max_attempts:  # leases kept expiring: a crash loop
            await self._failed(mail, "exhausted", f"gave up after {attempts - 1} attempts")
            return
        started = time.perf_counter()
        try:
            await self.smtp.send(self.composer.envelope_from, mail.to, self.composer.compose(mail))
        except SendFailure as f:
            await self._record_failure(mail, attempts, f)
            return
        except ValueError as e:  # an address the message cannot be built for
            await self._failed(mail, "permanent", f"invalid recipient: {e}")
            return
        self.metrics.send_seconds.observe(time.perf_counter() - started)
        await self._sent.record(mail.alert_id)
        self.metrics.sent.inc()

    async def _record_failure(self, mail: AlertMail, attempts: int, f: SendFailure) -> None:
        if f.permanent:
            await self._failed(mail, "permanent", f.reason)
        elif attempts >= self.options.max_attempts:
            await self._failed(mail, "exhausted", f"gave up after {attempts} attempts: {f.reason}")
        else:
            delay = self.options.backoff(attempts)
            await claims.mark_retrying(self.pg, mail.alert_id, delay, f.reason)
            self.metrics.failed.labels("transient").inc()
            log.info("alert_retrying", alert_id=str(mail.alert_id), attempts=attempts,
                     delay=round(delay, 1), reason=f.reason)

    async def _failed(self, mail: AlertMail, kind: str, reason: str) -> None:
        await claims.mark_failed(self.pg, mail.alert_id, reason)
        self.metrics.failed.labels(kind).inc()
        log.warning("alert_failed", alert_id=str(mail.alert_id), kind=kind, reason=reason)


class SentLog:
    """Group commit of `sent`: a commit waits up to `linger` seconds for more 250s to share it
    (one commit per email would cost PostgreSQL a WAL flush each), so each alert is committed
    a few milliseconds after its 250 at most."""

    def __init__(self, pg: asyncpg.Pool, linger: float = 0.005, group: int = 50) -> None:
        self.pg, self.linger, self.group = pg, linger, group
        self._waiting: list[tuple[uuid.UUID, asyncio.Future[None]]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, alert_id: uuid.UUID) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((alert_id, done))
        if len(self._waiting) >= self.group:
            self._full.set()
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._waiting:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.linger)
                self._full.clear()
                group, self._waiting = self._waiting, []
                error = await self._commit([alert_id for alert_id, _ in group])
                for _, done in group:
                    if done.done():
                        continue
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)
        finally:
            self._flusher = None

    async def _commit(self, ids: list[uuid.UUID]) -> Exception | None:
        # A brief PostgreSQL hiccup must not turn sent emails into repeats: retry a little.
        for delay in (0.05, 0.2, 1.0, None):
            try:
                await claims.mark_sent(self.pg, ids)
                return None
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as e:
                if delay is None:
                    return e
                await asyncio.sleep(delay)
        return None


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def build_engine(settings: Settings, pg: asyncpg.Pool, metrics: NotifierMetrics | None = None,
                 options: EngineOptions | None = None) -> Engine:
    """The engine exactly as `beacon notifier` runs it; tests build theirs here too."""
    relay = RelaySettings(settings.smtp_host, settings.smtp_port, settings.smtp_timeout,
                          settings.smtp_username, settings.smtp_password, settings.smtp_starttls)
    options = options or EngineOptions(max_attempts=settings.send_max_attempts,
                                       lease_seconds=max(30.0, 2 * settings.smtp_timeout + 10))
    metrics = metrics or NotifierMetrics(CollectorRegistry())
    return Engine(pg, SmtpPool(relay, settings.smtp_connections),
                  Composer(settings.smtp_from, settings.base_url), metrics, options,
                  # More lanes than connections: a lane waiting for its group commit must not
                  # leave a connection idle. The pool still bounds the connections.
                  lanes=4 * settings.smtp_connections)
