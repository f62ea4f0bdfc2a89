"""Periodic background passes (relay, escalation) that must outlive any single failure.

A pass that raises is logged and the loop goes on: PostgreSQL or Redis being away for a while
must never stop the relay for good. Only cancellation (shutdown) ends a loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from services.worker.failures import TRANSIENT_ERRORS

log = structlog.get_logger(__name__)

Pass = Callable[[], Awaitable[object]]


async def every(interval: float, name: str, one_pass: Pass) -> None:
    while True:
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except TRANSIENT_ERRORS as e:
            log.warning("background_pass_unavailable", task=name, error=repr(e))
        except Exception:
            # A bug must be loud, but must not leave outbox events stranded: keep going.
            log.exception("background_pass_failed", task=name)
        await asyncio.sleep(interval)


def start(interval: float, name: str, one_pass: Pass) -> asyncio.Task[None]:
    task = asyncio.create_task(every(interval, name, one_pass), name=name)
    task.add_done_callback(_report_end)
    return task


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background_task_died", task=task.get_name(), error=repr(task.exception()))


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
