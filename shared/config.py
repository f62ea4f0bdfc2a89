"""Settings: read from environment variables in one place, validated, passed down.

Nothing here runs at import. Entry points call `Settings.from_env()`; tests build their own
`Settings(...)` or pass a dict of variables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    smtp_host: str
    smtp_port: int
    smtp_from: str
    base_url: str
    admin_token: str
    # Encrypts authenticator (TOTP) secrets at rest; at least 32 characters.
    secret_key: str
    ingest_port: int = 8080
    notifier_port: int = 8081
    # Backpressure: requests being served at once before ingest sheds with 503. About three
    # times the pool: enough to keep every connection busy, few enough that a request admitted
    # never queues long for one (bench/ingest.py: 128 gave p99s of 0.4-0.9 s past saturation).
    ingest_max_in_flight: int = 32
    # The staff lane (pages, sign-in, session calls) has its own budget and pool, so a burst
    # from the MIS cannot lock staff out, nor a crowd of staff the MIS.
    ingest_staff_max_in_flight: int = 16
    ingest_staff_db_pool_size: int = 3
    # Seconds: when even the shortest wait for a database connection in 100 ms exceeds this,
    # ingest admits only as many requests as it has connections (CoDel's test); 0 disables.
    ingest_queue_delay_target: float = 0.05
    # Seconds a request may wait for a database connection before it is shed with 503.
    db_acquire_timeout: float = 0.5
    db_pool_size: int = 10
    # Per API key sustained requests/second (burst = 2x); 0 disables the limit.
    api_key_rate: float = 200.0
    max_body_bytes: int = 256 * 1024
    max_file_bytes: int = 10 * 1024 * 1024
    files_dir: str = ""  # empty: files are stored in PostgreSQL
    worker_poll_delay: float = 0.05
    worker_max_jobs: int = 50
    relay_interval: float = 2.0
    smtp_connections: int = 10
    smtp_timeout: float = 10.0
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    send_max_attempts: int = 30
    escalation_seconds: float = 900.0
    log_level: str = "INFO"
    # Staff sessions end after this long without a request (a school may set its own).
    session_idle_seconds: int = 600
    # ...and this long after sign-in however busy they are (the Redis TTL never outlives it).
    session_max_seconds: int = 12 * 3600
    # An elevated session (TOTP) counts as elevated for this long after the code was entered.
    elevation_seconds: int = 3600
    # Keys the audit log's MACs; empty: derived from secret_key (key id "k1"). 32+ characters.
    audit_key: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        import os

        e = os.environ if env is None else env
        r = _Reader(e)
        return cls(
            database_url=r.url("DATABASE_URL", ("postgres", "postgresql")),
            redis_url=r.url("REDIS_URL", ("redis", "rediss")),
            smtp_host=r.text("SMTP_HOST"),
            smtp_port=r.port("SMTP_PORT", 25),
            smtp_from=r.email("SMTP_FROM"),
            base_url=r.url("BEACON_BASE_URL", ("http", "https")).rstrip("/"),
            admin_token=r.secret("BEACON_ADMIN_TOKEN"),
            secret_key=r.secret("BEACON_SECRET_KEY", min_length=32),
            ingest_port=r.port("INGEST_PORT", 8080),
            notifier_port=r.port("NOTIFIER_PORT", 8081),
            ingest_max_in_flight=r.number("INGEST_MAX_IN_FLIGHT", int, 32, minimum=1),
            ingest_staff_max_in_flight=r.number("INGEST_STAFF_MAX_IN_FLIGHT", int, 16, minimum=1),
            ingest_staff_db_pool_size=r.number("INGEST_STAFF_DB_POOL_SIZE", int, 3, minimum=1),
            ingest_queue_delay_target=r.number("INGEST_QUEUE_DELAY_TARGET", float, 0.05, minimum=0),
            db_acquire_timeout=r.number("DB_ACQUIRE_TIMEOUT", float, 0.5, minimum=0.01),
            db_pool_size=r.number("DB_POOL_SIZE", int, 10, minimum=1),
            api_key_rate=r.number("API_KEY_RATE", float, 200.0, minimum=0),
            max_body_bytes=r.number("MAX_BODY_BYTES", int, 256 * 1024, minimum=1024),
            max_file_bytes=r.number("MAX_FILE_BYTES", int, 10 * 1024 * 1024, minimum=1024),
            files_dir=e.get("FILES_DIR", ""),
            worker_poll_delay=r.number("WORKER_POLL_DELAY", float, 0.05, minimum=0.001),
            worker_max_jobs=r.number("WORKER_MAX_JOBS", int, 50, minimum=1),
            relay_interval=r.number("RELAY_INTERVAL", float, 2.0, minimum=0.05),
            smtp_connections=r.number("SMTP_CONNECTIONS", int, 10, minimum=1),
            smtp_timeout=r.number("SMTP_TIMEOUT", float, 10.0, minimum=0.1),
            smtp_username=e.get("SMTP_USERNAME", ""),
            smtp_password=e.get("SMTP_PASSWORD", ""),
            smtp_starttls=r.flag("SMTP_STARTTLS", False),
            send_max_attempts=r.number("SEND_MAX_ATTEMPTS", int, 30, minimum=1),
            escalation_seconds=r.number("ESCALATION_SECONDS", float, 900.0, minimum=1),
            log_level=r.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            session_idle_seconds=r.number(
                "BEACON_SESSION_IDLE_SECONDS", int, 600, minimum=1, maximum=86400
            ),
            session_max_seconds=r.number(
                "BEACON_SESSION_MAX_SECONDS", int, 12 * 3600, minimum=60, maximum=7 * 86400
            ),
            elevation_seconds=r.number(
                "BEACON_ELEVATION_SECONDS", int, 3600, minimum=60, maximum=86400
            ),
            audit_key=r.optional_secret("BEACON_AUDIT_KEY", min_length=32),
        )


class _Reader:
    """Reads one variable at a time and raises ConfigError naming it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(name, "is required")
        return default

    def secret(self, name: str, min_length: int = 16) -> str:
        value = self.text(name)
        if len(value) < min_length:
            raise ConfigError(name, f"must be at least {min_length} characters")
        return value

    def optional_secret(self, name: str, min_length: int = 16) -> str:
        return self.secret(name, min_length) if self.env.get(name, "").strip() else ""

    def url(self, name: str, schemes: tuple[str, ...]) -> str:
        value = self.text(name)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigError(name, f"must be a {'/'.join(schemes)}:// URL with a host")
        return value

    def email(self, name: str) -> str:
        value = self.text(name)
        if "@" not in value.strip("<>").split()[-1]:
            raise ConfigError(name, "must be an email address")
        return value

    def port(self, name: str, default: int) -> int:
        return self.number(name, int, default, minimum=1, maximum=65535)

    def number(
        self,
        name: str,
        kind: Callable[[str], T],
        default: T,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> T:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value: Any = kind(raw)
        except ValueError:
            raise ConfigError(name, f"must be a number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise ConfigError(name, f"must be at most {maximum}, got {raw!r}")
        return value  # type: ignore[no-any-return]

    def flag(self, name: str, default: bool) -> bool:
        raw = self.env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false, got {raw!r}")

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).upper()
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}")
        return value


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """For commands that only touch PostgreSQL (migrate, admin)."""
    import os

    return _Reader(os.environ if env is None else env).url(
        "DATABASE_URL", ("postgres", "postgresql")
    )


def audit_secrets_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """For the audit commands: (BEACON_SECRET_KEY, BEACON_AUDIT_KEY), each "" when unset."""
    import os

    r = _Reader(os.environ if env is None else env)
    return r.optional_secret("BEACON_SECRET_KEY", 32), r.optional_secret("BEACON_AUDIT_KEY", 32)
