"""Secure by default: `docker compose up` as shipped ran with a known admin token and secret
key (published in the compose file and the README), Mailpit's page (every password-reset link)
was open on all interfaces, and SMTP AUTH went out without TLS.

Now secrets come from files a one-shot writes (tests/deploy/test_compose.py checks compose and
starts the services from generated files); here, the attacks on the settings themselves: the
published values are refused unless BEACON_ENV=development, `*_FILE` variables are read as the
postgres image reads them, and a password is never sent to a mail server in clear unless asked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import main as beacon
from shared.config import ConfigError, Settings, database_url_from_env
from tests.support.processes import service_env

OLD_COMPOSE_TOKEN = "dev-admin-token-change-me"
OLD_COMPOSE_KEY = "dev-secret-key-change-me-0123456789abcdef"
OLD_COMPOSE_DB = "postgresql://beacon:beacon@postgres:5432/beacon"


def secret_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


# --- The published development values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BEACON_ADMIN_TOKEN", OLD_COMPOSE_TOKEN),
        ("BEACON_SECRET_KEY", OLD_COMPOSE_KEY),
        ("BEACON_AUDIT_KEY", OLD_COMPOSE_KEY),
        ("DATABASE_URL", OLD_COMPOSE_DB),
    ],
)
def test_published_development_values_are_refused(env, variable, value):
    with pytest.raises(ConfigError, match="published development value") as e:
        Settings.from_env({**env, variable: value})
    assert e.value.variable == variable
    # Only where someone said this is a development machine.
    for development in ("development", "Development "):
        Settings.from_env({**env, variable: value, "BEACON_ENV": development})
    with pytest.raises(ConfigError, match="BEACON_ENV"):
        Settings.from_env({**env, "BEACON_ENV": "staging"})


def test_a_published_value_in_a_file_is_refused_too(env, tmp_path):
    given = {k: v for k, v in env.items() if k != "BEACON_ADMIN_TOKEN"}
    given["BEACON_ADMIN_TOKEN_FILE"] = secret_file(tmp_path, "t", OLD_COMPOSE_TOKEN + "\n")
    with pytest.raises(ConfigError, match="BEACON_ADMIN_TOKEN: is a published"):
        Settings.from_env(given)


def test_the_tests_own_values_and_old_keys_are_not_refused(env):
    # The published key may still be an *old* key: that is how a deployment rotates off it.
    settings = Settings.from_env({**env, "BEACON_OLD_SECRET_KEYS": OLD_COMPOSE_KEY})
    assert settings.old_secret_keys == (OLD_COMPOSE_KEY,)
    assert not settings.development


def test_the_old_compose_environment_cannot_start_a_service(env):
    # The attack: the shipped compose values, a real `beacon ingest` process.
    old = {**env, "BEACON_ADMIN_TOKEN": OLD_COMPOSE_TOKEN, "BEACON_SECRET_KEY": OLD_COMPOSE_KEY}
    beacon_bin = str(Path(sys.executable).with_name("beacon"))
    done = subprocess.run(
        [beacon_bin, "ingest"], env=service_env(old), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert b"BEACON_ADMIN_TOKEN: is a published development value" in done.stderr


def test_migrate_refuses_the_published_database_password():
    with pytest.raises(ConfigError, match="DATABASE_URL: is a published"):
        database_url_from_env({"DATABASE_URL": OLD_COMPOSE_DB})
    assert database_url_from_env({"DATABASE_URL": OLD_COMPOSE_DB, "BEACON_ENV": "development"})


# --- *_FILE ----------------------------------------------------------------------------------


def test_secrets_are_read_from_files_when_unset(env, tmp_path):
    given = {k: v for k, v in env.items() if k not in ("BEACON_ADMIN_TOKEN", "BEACON_SECRET_KEY")}
    token, key = "file-admin-token-0123456789", "file-secret-key-0123456789-0123456789"
    given["BEACON_ADMIN_TOKEN_FILE"] = secret_file(tmp_path, "admin-token", token + "\n")
    given["BEACON_SECRET_KEY_FILE"] = secret_file(tmp_path, "secret-key", key)  # no newline
    given["BEACON_METRICS_TOKEN_FILE"] = secret_file(tmp_path, "m", "metrics-token-0123456789\n")
    given["SMTP_PASSWORD_FILE"] = secret_file(tmp_path, "smtp", " spaces kept \n")
    given["SMTP_USERNAME"], given["SMTP_STARTTLS"] = "beacon", "true"
    settings = Settings.from_env(given)
    assert settings.admin_token == token and settings.secret_key == key
    assert settings.metrics_token == "metrics-token-0123456789"
    assert settings.smtp_password == " spaces kept "  # only the trailing newline goes
    # X itself wins over X_FILE (as when an operator overrides one value).
    assert (
        Settings.from_env({**given, "BEACON_ADMIN_TOKEN": env["BEACON_ADMIN_TOKEN"]}).admin_token
        == env["BEACON_ADMIN_TOKEN"]
    )


@pytest.mark.parametrize("problem", ["missing", "empty", "directory", "unreadable"])
def test_an_unreadable_secret_file_names_its_variable(env, tmp_path, problem):
    path = tmp_path / "admin-token"
    if problem == "empty":
        path.write_text("\n")
    elif problem == "directory":
        path.mkdir()
    elif problem == "unreadable":
        path.write_bytes(b"\xff\xfe not text")
    given = {k: v for k, v in env.items() if k != "BEACON_ADMIN_TOKEN"}
    given["BEACON_ADMIN_TOKEN_FILE"] = str(path)
    with pytest.raises(ConfigError) as e:
        Settings.from_env(given)
    assert e.value.variable == "BEACON_ADMIN_TOKEN_FILE"
    assert str(path) in str(e.value)


def test_neither_the_variable_nor_its_file_names_both(env):
    given = {k: v for k, v in env.items() if k != "BEACON_SECRET_KEY"}
    with pytest.raises(
        ConfigError, match="BEACON_SECRET_KEY: is required .*BEACON_SECRET_KEY_FILE"
    ):
        Settings.from_env(given)


def test_database_password_from_the_postgres_password_file(env, tmp_path):
    password = "p@ss/w:rd%\n"
    path = secret_file(tmp_path, "postgres-password", password)
    url = "postgresql://beacon@db.example:5432/beacon"
    got = Settings.from_env({**env, "DATABASE_URL": url, "POSTGRES_PASSWORD_FILE": path})
    assert got.database_url == "postgresql://beacon:p%40ss%2Fw%3Ard%25@db.example:5432/beacon"
    # A URL with its own password keeps it; a missing file is named.
    with_own = "postgresql://beacon:own-password@db.example/beacon"
    assert (
        database_url_from_env({"DATABASE_URL": with_own, "POSTGRES_PASSWORD_FILE": path})
        == with_own
    )
    with pytest.raises(ConfigError) as e:
        database_url_from_env({"DATABASE_URL": url, "POSTGRES_PASSWORD_FILE": "/nonexistent"})
    assert e.value.variable == "POSTGRES_PASSWORD_FILE"
    # The published password is refused from the file as from the URL.
    old = secret_file(tmp_path, "old", "beacon\n")
    with pytest.raises(ConfigError, match="POSTGRES_PASSWORD_FILE: is a published"):
        database_url_from_env({"DATABASE_URL": url, "POSTGRES_PASSWORD_FILE": old})


async def test_the_database_password_file_really_logs_in(env, tmp_path):
    # The services connect with it (the test server trusts local connections, so this shows
    # the URL stays one asyncpg accepts).
    import asyncpg

    path = secret_file(tmp_path, "postgres-password", "generated-0123456789\n")
    url = database_url_from_env(
        {"DATABASE_URL": env["DATABASE_URL"], "POSTGRES_PASSWORD_FILE": path}
    )
    assert ":generated-0123456789@" in url
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


# --- SMTP AUTH -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ({}, True),
        ({"SMTP_STARTTLS": "true"}, False),
        ({"SMTP_ALLOW_PLAIN_AUTH": "true"}, False),
        ({"SMTP_ALLOW_PLAIN_AUTH": "false"}, True),
    ],
)
def test_smtp_auth_without_tls_is_refused_unless_allowed(env, extra, refused):
    given = {**env, "SMTP_USERNAME": "beacon", "SMTP_PASSWORD": "relay-password", **extra}
    if refused:
        with pytest.raises(ConfigError, match="sent in clear") as e:
            Settings.from_env(given)
        assert e.value.variable == "SMTP_PASSWORD"
    else:
        Settings.from_env(given)
    # No login at all (compose's Mailpit, a relay trusting the address) needs no TLS.
    Settings.from_env({**env, **extra})


def test_init_secrets_refuses_a_bad_owner(tmp_path, capsys):
    assert beacon(["admin", "init-secrets", "--dir", str(tmp_path), "--owner", "beacon"]) == 2
    assert "--owner" in capsys.readouterr().err
