"""Settings.from_env: each default is the dataclass field's, stated once."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

from shared.config import _TUNABLES, ConfigError, Settings

REQUIRED = {
    "DATABASE_URL": "postgresql://db.example/beacon",
    "REDIS_URL": "redis://redis.example:6379/0",
    "SMTP_HOST": "mail.example",
    "SMTP_FROM": "Beacon <beacon@school.example>",
    "BEACON_BASE_URL": "https://beacon.school.example/",
    "BEACON_ADMIN_TOKEN": "admin-token-0123456789",
    "BEACON_SECRET_KEY": "secret-key-for-authenticators-0123456789",
}


def test_every_field_with_a_default_is_read_once_in_field_order() -> None:
    defaulted = [f.name for f in fields(Settings) if f.default is not MISSING]
    assert [name for name, _, _ in _TUNABLES] == defaulted
    variables = [variable for _, variable, _ in _TUNABLES]
    assert len(set(variables)) == len(variables)


def test_unset_variables_take_the_field_defaults() -> None:
    settings = Settings.from_env(REQUIRED)
    for f in fields(Settings):
        if f.default is not MISSING:
            assert getattr(settings, f.name) == f.default, f.name
    assert settings.smtp_port == 25
    assert settings.base_url == "https://beacon.school.example"


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("INGEST_PORT", "9000", "ingest_port", 9000),
        ("INGEST_QUEUE_DELAY_TARGET", "0", "ingest_queue_delay_target", 0.0),
        ("API_KEY_RATE", "12.5", "api_key_rate", 12.5),
        ("FILES_DIR", " /srv/files ", "files_dir", " /srv/files "),
        ("SMTP_STARTTLS", "yes", "smtp_starttls", True),
        ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("BEACON_SESSION_IDLE_SECONDS", "86400", "session_idle_seconds", 86400),
        ("BEACON_AUDIT_KEY", "k" * 32, "audit_key", "k" * 32),
    ],
)
def test_set_variables_are_read_as_their_field(
    variable: str, value: str, field: str, expected: object
) -> None:
    settings = Settings.from_env({**REQUIRED, variable: value})
    assert getattr(settings, field) == expected
    assert type(getattr(settings, field)) is type(expected)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SMTP_PORT", "65536", "SMTP_PORT: must be at most 65535, got '65536'"),
        ("INGEST_MAX_IN_FLIGHT", "0", "INGEST_MAX_IN_FLIGHT: must be at least 1, got '0'"),
        ("DB_ACQUIRE_TIMEOUT", "soon", "DB_ACQUIRE_TIMEOUT: must be a number, got 'soon'"),
        ("BEACON_SESSION_MAX_SECONDS", "59", "BEACON_SESSION_MAX_SECONDS: must be at least 60"),
        ("SMTP_STARTTLS", "maybe", "SMTP_STARTTLS: must be true or false, got 'maybe'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR"),
        ("BEACON_AUDIT_KEY", "short", "BEACON_AUDIT_KEY: must be at least 32 characters"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**REQUIRED, variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(message)
