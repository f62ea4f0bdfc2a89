"""A restart policy for fault runs, as compose's `restart: unless-stopped` (and any
orchestrator) gives production: a Beacon process that exits during the run is started again,
and each exit is recorded with the last exception its log names, so a test can say which
deaths it tolerates (and the report shows them all)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.faults.pipeline import Pipeline

CHECK_EVERY = 0.2  # seconds


@dataclass(frozen=True, slots=True)
class Death:
    service: str
    at: float  # time.time() when it was found dead
    returncode: int | None
    error: str  # the last "package.module.Error" a traceback in its log ends with


@dataclass
class Supervisor:
    pipeline: Pipeline
    deaths: list[Death] = field(default_factory=list)

    async def watch(self) -> None:
        while True:
            for name, service in self.pipeline.services.items():
                if service.proc is None or service.proc.poll() is None:
                    continue
                self.deaths.append(
                    Death(name, time.time(), service.proc.returncode, last_error(service.tail()))
                )
                await self.pipeline.start(name)
            await asyncio.sleep(CHECK_EVERY)

    def figures(self) -> list[dict[str, object]]:
        return [{"service": d.service, "rc": d.returncode, "error": d.error} for d in self.deaths]


@contextlib.asynccontextmanager
async def supervised(pipeline: Pipeline) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(pipeline)
    task = asyncio.create_task(supervisor.watch())
    try:
        yield supervisor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def last_error(log_tail: str) -> str:
    found = re.findall(r"^([\w.]+(?:Error|Exception|Exit)\w*):", log_tail, re.M)
    return found[-1] if found else "?"
