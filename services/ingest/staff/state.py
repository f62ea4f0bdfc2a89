"""What the staff routes keep on the app: their configuration and Redis-backed helpers.

The configuration comes from shared.config.Settings (BEACON_SECRET_KEY encrypts authenticator
secrets; BEACON_SESSION_IDLE_SECONDS is the default idle timeout); nothing here reads the
environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from services.ingest.staff.sessions import SessionStore
from services.ingest.staff.throttle import LoginThrottle
from services.ingest.staff.totp import SecretBox, derive_key
from shared.config import Settings
from shared.identity import ApiKeyCache
from shared.web import REDIS

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StaffConfig:
    secret_key: bytes
    session_idle_seconds: int = 600
    reset_link_minutes: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> StaffConfig:
        return cls(
            secret_key=derive_key(settings.secret_key),
            session_idle_seconds=settings.session_idle_seconds,
        )


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


def install(app: web.Application, config: StaffConfig, api_keys: ApiKeyCache | None = None) -> None:
    """`api_keys`: share the app's own cache, so an API key is looked up once per app."""
    app[STAFF] = StaffState(
        config=config, box=SecretBox(config.secret_key), api_keys=api_keys or ApiKeyCache()
    )
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
