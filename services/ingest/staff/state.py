"""What the staff routes keep on the app: their configuration and Redis-backed helpers.

Two environment variables are read here until the lead moves them into shared.config.Settings:
BEACON_SECRET_KEY (required, >= 32 characters: encrypts authenticator secrets) and
BEACON_SESSION_IDLE_SECONDS (default 600).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from services.ingest.staff.sessions import SessionStore
from services.ingest.staff.throttle import LoginThrottle
from services.ingest.staff.totp import SecretBox, secret_key_from_env
from shared.config import ConfigError
from shared.identity import ApiKeyCache
from shared.web import REDIS

log = structlog.get_logger(__name__)
IDLE_ENV = "BEACON_SESSION_IDLE_SECONDS"


@dataclass(frozen=True, slots=True)
class StaffConfig:
    secret_key: bytes
    session_idle_seconds: int = 600
    reset_link_minutes: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StaffConfig:
        e = os.environ if env is None else env
        raw = e.get(IDLE_ENV, "").strip() or "600"
        try:
            idle = int(raw)
        except ValueError:
            raise ConfigError(IDLE_ENV, f"must be a whole number of seconds, got {raw!r}") from None
        if not 1 <= idle <= 86400:
            raise ConfigError(IDLE_ENV, "must be between 1 and 86400")
        return cls(secret_key=secret_key_from_env(e), session_idle_seconds=idle)


@dataclass(slots=True)
class StaffState:
    config: StaffConfig
    box: SecretBox
    api_keys: ApiKeyCache = field(default_factory=ApiKeyCache)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def background(self, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` after the response (emails): the answer's timing must not tell."""
        task = asyncio.get_running_loop().create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("staff_background_failed", error=repr(task.exception()))


STAFF = web.AppKey("staff", StaffState)


def install(app: web.Application, config: StaffConfig) -> None:
    app[STAFF] = StaffState(config=config, box=SecretBox(config.secret_key))
    app.cleanup_ctx.append(_background_tasks)


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    yield
    state = app[STAFF]
    if state.tasks:  # let queued emails go out before the process stops
        await asyncio.wait(state.tasks, timeout=10)


def sessions(request: web.Request) -> SessionStore:
    return SessionStore(request.app[REDIS])


def throttle(request: web.Request) -> LoginThrottle:
    return LoginThrottle(request.app[REDIS])
