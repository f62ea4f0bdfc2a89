"""Two of every service against one database and one Redis, as a deployment behind a reverse
proxy runs them: `ingest-a`/`ingest-b` (each its own port), `worker-a`/`worker-b`,
`notifier-a`/`notifier-b` (each its own status port), all `beacon <service>` processes with
the same environment otherwise. The client sends its attempts round-robin to the ingests, as
a proxy would, so a retry after a refused connection usually lands on the survivor.

Kills are recorded under the service's kind ("notifier"), which is what the books explain
duplicates by; logs are read per kind (both replicas' lines)."""

from __future__ import annotations

import itertools
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from tests.faults.client import ACKNOWLEDGED, Attempt, Outcome, Reporter
from tests.faults.pipeline import HEALTH_PORTS, NAMES, Kill, Pipeline
from tests.support.ports import free_port
from tests.support.processes import Service

REPLICAS = ("a", "b")


class Replica(Service):
    """`beacon <kind>` logged and addressed as `<kind>-<replica>`."""

    def __init__(self, kind: str, replica: str, env: dict[str, str]) -> None:
        port = HEALTH_PORTS.get(kind)
        super().__init__(f"{kind}-{replica}", env, health_port=int(env[port]) if port else None)
        self.kind = kind

    @property
    def command(self) -> list[str]:
        return [str(Path(sys.executable).with_name("beacon")), self.kind]


@dataclass
class ReplicaPipeline(Pipeline):
    replicas: dict[str, Replica] = field(default_factory=dict)

    def start_all(self) -> None:
        for kind in NAMES:
            for replica in REPLICAS:
                env = dict(self.env)
                if replica != REPLICAS[0] and kind in HEALTH_PORTS:
                    env[HEALTH_PORTS[kind]] = str(free_port())  # its own port on this box
                self.services[f"{kind}-{replica}"] = Replica(kind, replica, env)
        # All six at once: each waits for its own health check.
        with ThreadPoolExecutor(len(self.services)) as pool:
            list(pool.map(lambda s: s.start(30), self.services.values()))

    def stop_all(self) -> dict[str, int | None]:
        """SIGTERM to all six at once, then wait for each (one at a time took seconds)."""
        for service in self.services.values():
            if service.proc and service.proc.poll() is None:
                self._note_rss(service.name)
                service.proc.terminate()
        return super().stop_all()

    @property
    def ingest_urls(self) -> list[str]:
        return [
            f"http://127.0.0.1:{s.env['INGEST_PORT']}"
            for s in self.services.values()
            if isinstance(s, Replica) and s.kind == "ingest"
        ]

    async def kill(self, name: str, leased: frozenset[str] = frozenset()) -> Kill:
        kill = replace(await super().kill(name, leased), service=self._kind(name))
        self.kills[-1] = kill
        return kill

    def log(self, name: str) -> str:
        """One service's log, or (given a kind) every replica's of that kind."""
        if name in self.services:
            return super().log(name)
        return "".join(Pipeline.log(self, n) for n in self._named(name))

    def _named(self, kind: str) -> list[str]:
        return [n for n, s in self.services.items() if self._kind(n) == kind]

    def _kind(self, name: str) -> str:
        service = self.services[name]
        return service.kind if isinstance(service, Replica) else name

    def reporter(self, http: aiohttp.ClientSession, api_key: str, **options: Any) -> Reporter:
        return RoundRobinReporter(
            http,
            self.ingest_urls[0],
            api_key,
            run_id=uuid.uuid4().hex[:8],
            urls=self.ingest_urls,
            **options,
        )


@dataclass
class RoundRobinReporter(Reporter):
    """The fault suite's client, each attempt to the next ingest in turn (a proxy's
    round-robin): retries keep their Idempotency-Key whichever ingest they reach."""

    urls: list[str] = field(default_factory=list)
    acked_by: Counter[str] = field(default_factory=Counter)  # ingest URL -> 201s and 200s
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def _attempt(self, index: int, outcome: Outcome, body: bytes) -> Attempt:
        # Read synchronously by the POST before the attempt first awaits: no other task can
        # change it in between.
        url = self.ingest_url = self.urls[next(self._turn) % len(self.urls)]
        attempt = await super()._attempt(index, outcome, body)
        if attempt.status in ACKNOWLEDGED:
            self.acked_by[url] += 1
        return attempt
