"""Settings: read from environment variables in one place, validated, passed down.

Nothing here runs at import. Entry points call `Settings.from_env()`; tests build their own
`Settings(...)` or pass a dict of variables.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

T = TypeVar("T")

# REDIS_URL naming a Sentinel set: rediss+ speaks TLS to the master (shared/queue.py).
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
# What asyncpg (like libpq) accepts for target_session_attrs in a DATABASE_URL.
TARGET_SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")

# Secrets that may be handed over in a file instead, as the official postgres image does: when X
# is unset, X_FILE names a file holding the value (one trailing newline is dropped). compose
# writes them with `beacon admin init-secrets` to a volume mounted read-only.
FILE_VARIABLES = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "BEACON_ADMIN_TOKEN",
        "BEACON_SECRET_KEY",
        "BEACON_OLD_SECRET_KEYS",
        "BEACON_AUDIT_KEY",
        "BEACON_METRICS_TOKEN",
        "SMTP_PASSWORD",
    }
)
# Beside DATABASE_URL without a password: the file postgres itself was given (the same name).
POSTGRES_PASSWORD_FILE = "POSTGRES_PASSWORD_FILE"  # noqa: S105 (a variable's name)
# Values published with Beacon (the old docker-compose.yml and README): anyone can read them,
# so a service refuses them unless BEACON_ENV=development. The tests' own values are not here.
PUBLISHED_SECRETS = frozenset(
    {"dev-admin-token-change-me", "dev-secret-key-change-me-0123456789abcdef"}
)
PUBLISHED_DATABASE_PASSWORDS = frozenset({"beacon"})
ENVIRONMENTS = ("production", "development")


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
    # Backpressure: requests being served at once before ingest sheds with 503. Incidents are
    # written in batches per school (services/ingest/recording.py), so a request waiting for
    # the next batch holds no connection: 64 keeps batches full past saturation (bench/ingest.py
    # at 3,000/s offered: 2,390-2,790/s accepted, p99 73-105 ms; 32 fell to 960-1,540/s, and
    # 128 gave p99s of 170-230 ms for no more).
    ingest_max_in_flight: int = 64
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
    # SMTP AUTH over a connection without TLS sends the password in clear: refused unless this.
    smtp_allow_plain_auth: bool = False
    send_max_attempts: int = 30
    escalation_seconds: float = 900.0
    # Seconds before the school day ends by which an unread alert escalates, however recent.
    escalation_end_margin: float = 600.0
    log_level: str = "INFO"
    # Staff sessions end after this long without a request (a school may set its own).
    session_idle_seconds: int = 600
    # ...and this long after sign-in however busy they are (the Redis TTL never outlives it).
    session_max_seconds: int = 12 * 3600
    # An elevated session (TOTP) counts as elevated for this long after the code was entered.
    elevation_seconds: int = 3600
    # Keys the audit log's MACs; empty: derived from secret_key (key id "k1"). 32+ characters.
    audit_key: str = ""
    # Earlier BEACON_SECRET_KEYs, comma-separated: they still decrypt, secret_key encrypts.
    old_secret_keys: tuple[str, ...] = ()
    # Seconds a request body may take to arrive in full; past it, 408 and the connection closes.
    ingest_body_timeout: float = 5.0
    # Proxies whose X-Forwarded-For is believed (IP networks); empty: the peer is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Bearer token /metrics asks for; empty: /metrics answers loopback peers only. 16+ characters.
    metrics_token: str = ""
    # Days an export's file is kept after it is made; then it is deleted (the row stays).
    export_retention_days: int = 7
    # BEACON_ENV=development accepts the published development secrets; nothing else changes.
    development: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        import os

        r = _Reader(os.environ if env is None else env)
        # The fields without a default here; every other one is read by _TUNABLES.
        settings = cls(
            database_url=r.database_url("DATABASE_URL"),
            redis_url=r.redis_url("REDIS_URL"),
            smtp_host=r.text("SMTP_HOST"),
            smtp_port=r.port("SMTP_PORT", 25),
            smtp_from=r.email("SMTP_FROM"),
            base_url=r.url("BEACON_BASE_URL", ("http", "https")).rstrip("/"),
            admin_token=r.secret("BEACON_ADMIN_TOKEN"),
            secret_key=r.secret("BEACON_SECRET_KEY", min_length=32),
            **_read_tunables(r),
        )
        _refuse_plain_smtp_auth(settings)
        return settings


def _refuse_plain_smtp_auth(s: Settings) -> None:
    """aiosmtplib logs in whenever a username and password are given, TLS or not."""
    if s.smtp_username and s.smtp_password and not s.smtp_starttls and not s.smtp_allow_plain_auth:
        raise ConfigError(
            "SMTP_PASSWORD",
            "would be sent in clear (SMTP AUTH without TLS): set SMTP_STARTTLS=true, or "
            "SMTP_ALLOW_PLAIN_AUTH=true for a relay on a network you trust",
        )


class _Reader:
    """Reads one variable at a time and raises ConfigError naming it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str) -> str:
        """The variable's value; for a secret (FILE_VARIABLES) that is unset, the contents of
        the file `{name}_FILE` names, when that is set."""
        value = self.env.get(name, "")
        if value.strip() or name not in FILE_VARIABLES:
            return value
        path = self.env.get(f"{name}_FILE", "").strip()
        return read_secret_file(f"{name}_FILE", path) if path else value

    def text(self, name: str, default: str | None = None) -> str:
        value = self.get(name).strip()
        if value:
            return value
        if default is None:
            also = f" (or {name}_FILE naming a file that holds it)"
            raise ConfigError(name, "is required" + (also if name in FILE_VARIABLES else ""))
        return default

    def secret(self, name: str, min_length: int = 16) -> str:
        value = self.text(name)
        if len(value) < min_length:
            raise ConfigError(name, f"must be at least {min_length} characters")
        if value in PUBLISHED_SECRETS:
            self.refuse_published(name)
        return value

    def optional_secret(self, name: str, min_length: int = 16) -> str:
        return self.secret(name, min_length) if self.get(name).strip() else ""

    def secrets(self, name: str, min_length: int) -> tuple[str, ...]:
        """Comma-separated secrets, each at least `min_length` characters. Published values
        are accepted here: these are keys being rotated away from."""
        found = tuple(filter(None, (item.strip() for item in self.get(name).split(","))))
        if any(len(item) < min_length for item in found):
            raise ConfigError(name, f"each must be at least {min_length} characters")
        return found

    def environment(self, name: str, default: bool) -> bool:
        """True for development; production (or unset) is the default."""
        raw = self.env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw not in ENVIRONMENTS:
            raise ConfigError(name, f"must be one of {', '.join(ENVIRONMENTS)}, got {raw!r}")
        return raw == "development"

    def refuse_published(self, name: str) -> None:
        if not self.environment("BEACON_ENV", False):
            raise ConfigError(
                name,
                "is a published development value: generate secrets with `beacon admin "
                "init-secrets` (docker compose does), or set BEACON_ENV=development",
            )

    def url(self, name: str, schemes: tuple[str, ...], several_hosts: bool = False) -> str:
        value = self.text(name)
        parts = urlsplit(value)
        try:
            hosts = url_hosts(parts.netloc)
        except ValueError as e:
            raise ConfigError(name, str(e)) from None
        if parts.scheme not in schemes or not hosts:
            raise ConfigError(name, f"must be a {'/'.join(schemes)}:// URL with a host")
        if len(hosts) > 1 and not several_hosts:
            raise ConfigError(name, "names one host only")
        return value

    def database_url(self, name: str) -> str:
        """libpq's URL, as asyncpg reads it: several hosts (`h1:5432,h2:5432`) are tried in
        order, and `target_session_attrs=read-write` skips standbys."""
        value = self.url(name, ("postgres", "postgresql"), several_hosts=True)
        for attrs in parse_qs(urlsplit(value).query).get("target_session_attrs", []):
            if attrs not in TARGET_SESSION_ATTRS:
                raise ConfigError(
                    name, f"target_session_attrs must be one of {', '.join(TARGET_SESSION_ATTRS)}"
                )
        userinfo, at, _ = urlsplit(value).netloc.rpartition("@")
        if at and ":" in userinfo:
            if unquote(userinfo.partition(":")[2]) in PUBLISHED_DATABASE_PASSWORDS:
                self.refuse_published(name)
            return value
        # No password in the URL: the one postgres was given, from the same file (compose).
        path = self.env.get(POSTGRES_PASSWORD_FILE, "").strip()
        if not path:
            return value
        password = read_secret_file(POSTGRES_PASSWORD_FILE, path)
        if password in PUBLISHED_DATABASE_PASSWORDS:
            self.refuse_published(POSTGRES_PASSWORD_FILE)
        return _with_password(value, password)

    def redis_url(self, name: str) -> str:
        """redis[s]://host:port/db, or a Sentinel set: redis[s]+sentinel://host1:26379,
        host2:26379/master-name/db (the sentinels' addresses; they name the master)."""
        schemes = ("redis", "rediss", *SENTINEL_SCHEMES)
        value = self.url(name, schemes, several_hosts=True)
        parts = urlsplit(value)
        if parts.scheme not in SENTINEL_SCHEMES:
            if len(url_hosts(parts.netloc)) > 1:
                raise ConfigError(
                    name,
                    "names several hosts: a Sentinel set is redis+sentinel://h1:26379,"
                    "h2:26379/master-name/db",
                )
            return value
        master, _, db = parts.path.strip("/").partition("/")
        if not master or "/" in db or not (db == "" or db.isdigit()):
            raise ConfigError(name, "a Sentinel URL ends /master-name or /master-name/db")
        return value

    def email(self, name: str) -> str:
        value = self.text(name)
        if "@" not in value.strip("<>").split()[-1]:
            raise ConfigError(name, "must be an email address")
        return value

    def raw(self, name: str, default: str) -> str:
        """The value as given (not stripped): paths and SMTP credentials."""
        value = self.get(name)
        return value if value or name in self.env else default

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

    def networks(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Comma-separated IP addresses or CIDR networks, each normalised (10.0.0.0/8)."""
        found = []
        for item in filter(None, (i.strip() for i in self.env.get(name, "").split(","))):
            try:
                found.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(name, f"must be IP addresses or networks, got {item!r}") from None
        return tuple(found) or default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).upper()
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}")
        return value


def read_secret_file(variable: str, path: str) -> str:
    """The file's text without its trailing newline; ConfigError naming `variable` when it
    cannot be read or is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problem = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(variable, f"cannot read {path}: {problem}") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise ConfigError(variable, f"{path} is empty")
    return text


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user, _, hosts = parts.netloc.rpartition("@")
    netloc = f"{user}:{quote(password, safe='')}@{hosts}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_hosts(netloc: str) -> list[tuple[str, int | None]]:
    """(host, port or None) for each host of a URL's authority, `[user[:password]@]host[:port]`
    or several hosts comma-separated (`h1:5432,[::1]:5433`). ValueError names what is wrong."""
    authority = netloc.rpartition("@")[2]
    hosts: list[tuple[str, int | None]] = []
    for item in authority.split(",") if authority else []:
        if item.startswith("["):  # an IPv6 address: [::1]:port
            host, bracket, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else rest
        else:
            host, _, port = item.partition(":")
            bracket = "-"  # no bracket to close
        if not host or not bracket:
            raise ValueError(f"has an empty or malformed host in {authority!r}")
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"has a bad port {port!r}")
        hosts.append((host, int(port) if port else None))
    return hosts


# How a variable with a default is read: (reader, variable, the field's default) -> value.
_Read = Callable[[_Reader, str, Any], Any]


def _number(
    kind: Callable[[str], Any], minimum: float | None = None, maximum: float | None = None
) -> _Read:
    return lambda r, name, default: r.number(name, kind, default, minimum, maximum)


def _one_of(*allowed: str) -> _Read:
    return lambda r, name, default: r.choice(name, allowed, default)


def _secret_or_default(min_length: int) -> _Read:
    return lambda r, name, default: r.optional_secret(name, min_length) or default


# Every Settings field with a default, in field order: (field, variable, how it is read). The
# default itself is stated once, on the field.
_TUNABLES: tuple[tuple[str, str, _Read], ...] = (
    ("ingest_port", "INGEST_PORT", _Reader.port),
    ("notifier_port", "NOTIFIER_PORT", _Reader.port),
    ("ingest_max_in_flight", "INGEST_MAX_IN_FLIGHT", _number(int, minimum=1)),
    ("ingest_staff_max_in_flight", "INGEST_STAFF_MAX_IN_FLIGHT", _number(int, minimum=1)),
    ("ingest_staff_db_pool_size", "INGEST_STAFF_DB_POOL_SIZE", _number(int, minimum=1)),
    ("ingest_queue_delay_target", "INGEST_QUEUE_DELAY_TARGET", _number(float, minimum=0)),
    ("db_acquire_timeout", "DB_ACQUIRE_TIMEOUT", _number(float, minimum=0.01)),
    ("db_pool_size", "DB_POOL_SIZE", _number(int, minimum=1)),
    ("api_key_rate", "API_KEY_RATE", _number(float, minimum=0)),
    ("max_body_bytes", "MAX_BODY_BYTES", _number(int, minimum=1024)),
    ("max_file_bytes", "MAX_FILE_BYTES", _number(int, minimum=1024)),
    ("files_dir", "FILES_DIR", _Reader.raw),
    ("worker_poll_delay", "WORKER_POLL_DELAY", _number(float, minimum=0.001)),
    ("worker_max_jobs", "WORKER_MAX_JOBS", _number(int, minimum=1)),
    ("relay_interval", "RELAY_INTERVAL", _number(float, minimum=0.05)),
    ("smtp_connections", "SMTP_CONNECTIONS", _number(int, minimum=1)),
    ("smtp_timeout", "SMTP_TIMEOUT", _number(float, minimum=0.1)),
    ("smtp_username", "SMTP_USERNAME", _Reader.raw),
    ("smtp_password", "SMTP_PASSWORD", _Reader.raw),
    ("smtp_starttls", "SMTP_STARTTLS", _Reader.flag),
    ("smtp_allow_plain_auth", "SMTP_ALLOW_PLAIN_AUTH", _Reader.flag),
    ("send_max_attempts", "SEND_MAX_ATTEMPTS", _number(int, minimum=1)),
    ("escalation_seconds", "ESCALATION_SECONDS", _number(float, minimum=1)),
    ("escalation_end_margin", "ESCALATION_END_MARGIN", _number(float, 0, 4 * 3600)),
    ("log_level", "LOG_LEVEL", _one_of("DEBUG", "INFO", "WARNING", "ERROR")),
    ("session_idle_seconds", "BEACON_SESSION_IDLE_SECONDS", _number(int, 1, 86400)),
    ("session_max_seconds", "BEACON_SESSION_MAX_SECONDS", _number(int, 60, 7 * 86400)),
    ("elevation_seconds", "BEACON_ELEVATION_SECONDS", _number(int, 60, 86400)),
    ("audit_key", "BEACON_AUDIT_KEY", _secret_or_default(min_length=32)),
    ("old_secret_keys", "BEACON_OLD_SECRET_KEYS", lambda r, name, _: r.secrets(name, 32)),
    ("ingest_body_timeout", "INGEST_BODY_TIMEOUT", _number(float, 0.1, 300)),
    ("trusted_proxies", "BEACON_TRUSTED_PROXIES", _Reader.networks),
    ("metrics_token", "BEACON_METRICS_TOKEN", _secret_or_default(min_length=16)),
    ("export_retention_days", "EXPORT_RETENTION_DAYS", _number(int, 1, 3650)),
    ("development", "BEACON_ENV", _Reader.environment),
)


def _read_tunables(r: _Reader) -> dict[str, Any]:
    defaults = {f.name: f.default for f in fields(Settings)}
    return {name: read(r, variable, defaults[name]) for name, variable, read in _TUNABLES}


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """For commands that only touch PostgreSQL (migrate, admin)."""
    import os

    return _Reader(os.environ if env is None else env).database_url("DATABASE_URL")


def audit_secrets_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """For the audit commands: (BEACON_SECRET_KEY, BEACON_AUDIT_KEY), each "" when unset."""
    import os

    r = _Reader(os.environ if env is None else env)
    return r.optional_secret("BEACON_SECRET_KEY", 32), r.optional_secret("BEACON_AUDIT_KEY", 32)


def secret_keys_from_env(env: Mapping[str, str] | None = None) -> tuple[str, tuple[str, ...]]:
    """For `beacon admin reencrypt-secrets`: BEACON_SECRET_KEY (required) and the old ones."""
    import os

    r = _Reader(os.environ if env is None else env)
    return r.secret("BEACON_SECRET_KEY", 32), r.secrets("BEACON_OLD_SECRET_KEYS", 32)
