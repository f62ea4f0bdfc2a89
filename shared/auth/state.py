"""Identity's state on an app (ingest and the notifier alike): its configuration, the API key
cache, and the Redis-backed session store and login throttle.

The configuration comes from shared.config.Settings (BEACON_SECRET_KEY encrypts authenticator
secrets, BEACON_OLD_SECRET_KEYS still decrypt them; BEACON_SESSION_IDLE_SECONDS is the default
idle timeout, BEACON_SESSION_MAX_SECONDS the absolute lifetime, BEACON_ELEVATION_SECONDS how
long elevation lasts; BEACON_AUDIT_KEY, or a key derived from BEACON_SECRET_KEY, signs the
audit log's entries); nothing here reads the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from shared import audit
from shared.auth.api_keys import ApiKeyCache
from shared.auth.sessions import SessionStore
from shared.auth.throttle import LoginThrottle
from shared.auth.totp import SecretBox, derive_key
from shared.config import Settings
from shared.web import REDIS

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    secret_key: bytes
    session_idle_seconds: int = 600
    reset_link_minutes: int = 30
    session_max_seconds: int = 12 * 3600
    elevation_seconds: int = 3600
    audit_keys: audit.AuditKeys | None = None
    # Derived from BEACON_OLD_SECRET_KEYS: they open authenticator secrets, never seal them.
    old_secret_keys: tuple[bytes, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        return cls(
            secret_key=derive_key(settings.secret_key),
            session_idle_seconds=settings.session_idle_seconds,
            session_max_seconds=settings.session_max_seconds,
            elevation_seconds=settings.elevation_seconds,
            audit_keys=audit.AuditKeys.from_secrets(settings.secret_key, settings.audit_key),
            old_secret_keys=tuple(derive_key(k) for k in settings.old_secret_keys),
        )


@dataclass(slots=True)
class AuthState:
    config: AuthConfig
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


AUTH = web.AppKey("auth", AuthState)


def install(app: web.Application, config: AuthConfig, api_keys: ApiKeyCache | None = None) -> None:
    """`api_keys`: share the app's own cache, so an API key is looked up once per app."""
    app[AUTH] = AuthState(
        config=config,
        box=SecretBox(config.secret_key, config.old_secret_keys),
        api_keys=api_keys or ApiKeyCache(),
    )
    if config.audit_keys is not None:
        audit.use_keys(config.audit_keys)
    app.cleanup_ctx.append(_background_tasks)


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    yield
    state = app[AUTH]
    if state.tasks:  # let queued emails go out before the process stops
        await asyncio.wait(state.tasks, timeout=10)


def sessions(request: web.Request) -> SessionStore:
    config = request.app[AUTH].config
    return SessionStore(
        request.app[REDIS],
        max_seconds=config.session_max_seconds,
        elevation_seconds=config.elevation_seconds,
    )


def throttle(request: web.Request) -> LoginThrottle:
    return LoginThrottle(request.app[REDIS])
