"""The whole pipeline as real processes (`beacon ingest|worker|notifier`, as compose starts
them), with the blocking parts of killing and restarting moved off the event loop so the load
client keeps its schedule while a fault is injected."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.stack import ADMIN_TOKEN, provision_school
from tests.faults.client import Reporter
from tests.support.processes import Service
from tests.support.roster import roster

NAMES = ("worker", "notifier", "ingest")
HEALTH_PORTS = {"ingest": "INGEST_PORT", "notifier": "NOTIFIER_PORT"}
# Production values (compose) where the shared test env fixture shortens them.
PRODUCTION = {"RELAY_INTERVAL": "2.0", "BEACON_ADMIN_TOKEN": ADMIN_TOKEN}


@dataclass(frozen=True, slots=True)
class Kill:
    service: str
    at: float  # time.time() just after the SIGKILL returned
    leased: frozenset[str] = frozenset()  # notifier: alerts in `sending` when it died


@dataclass
class Pipeline:
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    peak_rss_kb: dict[str, int] = field(default_factory=dict)

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.env['INGEST_PORT']}"

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def start_all(self) -> None:
        for name in NAMES:
            port = HEALTH_PORTS.get(name)
            service = Service(name, self.env, health_port=int(self.env[port]) if port else None)
            self.services[name] = service.start(wait=30)

    async def kill(self, name: str, leased: frozenset[str] = frozenset()) -> Kill:
        service = self.services[name]
        self._note_rss(name)
        await asyncio.to_thread(service.kill)
        kill = Kill(name, time.time(), leased)
        self.kills.append(kill)
        return kill

    async def start(self, name: str) -> None:
        await asyncio.to_thread(self.services[name].start, 30)

    def pid(self, name: str) -> int:
        proc = self.services[name].proc
        assert proc is not None
        return proc.pid

    def _note_rss(self, name: str) -> None:
        """Peak resident memory over every process this service has had (VmHWM)."""
        try:
            status = Path(f"/proc/{self.pid(name)}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                kb = int(line.split()[1])
                self.peak_rss_kb[name] = max(kb, self.peak_rss_kb.get(name, 0))

    def stop_all(self) -> dict[str, int | None]:
        codes = {}
        for name, service in self.services.items():
            self._note_rss(name)
            service.stop()
            codes[name] = service.proc.returncode if service.proc else None
        return codes

    def log(self, name: str) -> str:
        return self.services[name].log_path.read_text(errors="replace")

    def count_log(self, name: str, event: str) -> int:
        """How many log lines of this service (every process it has had) name `event`."""
        return self.log(name).count(f'"event": "{event}"')

    async def school(self) -> tuple[str, str]:
        """(school_id, api_key) for a new school with the sample roster."""
        return await provision_school(self.ingest_url, roster())

    def reporter(self, http: aiohttp.ClientSession, api_key: str, **options: object) -> Reporter:
        return Reporter(http, self.ingest_url, api_key, run_id=uuid.uuid4().hex[:8], **options)  # type: ignore[arg-type]


@asynccontextmanager
async def running(env: dict[str, str]) -> AsyncIterator[Pipeline]:
    pipeline = Pipeline({**env, **PRODUCTION})
    try:
        await asyncio.to_thread(pipeline.start_all)
        yield pipeline
    finally:
        await asyncio.to_thread(pipeline.stop_all)


@asynccontextmanager
async def http_client() -> AsyncIterator[aiohttp.ClientSession]:
    # Enough connections that the client's own pool never queues a request.
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http
