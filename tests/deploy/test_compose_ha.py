"""docker-compose.ha.yml (docs/deploying.md) is a valid Compose file and its Beacon services
run as the code expects: the Compose Specification's schema (Docker cannot run here, see
../shared/schemas/README.md), real `beacon` subcommands, variables Settings reads with values
it accepts, a DATABASE_URL listing both PostgreSQL nodes, a REDIS_URL naming the sentinels,
two replicas of each Beacon service behind the proxy whose address is the trusted one."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml

from shared import queue
from shared.cli import _parser
from shared.config import Settings, url_hosts
from tests.deploy.test_compose import RecordingEnv

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
BEACON_SERVICES = ("ingest", "worker", "notifier")
# What an operator sets in the shell (the file refuses to start without them).
SHELL = {
    "BEACON_DB_PASSWORD": "db-password",
    "BEACON_ADMIN_TOKEN": "ha-admin-token-0123456789",
    "BEACON_SECRET_KEY": "ha-secret-key-for-authenticator-secrets-0123",
    "PG_SUPERUSER_PASSWORD": "superuser-password",
    "PG_REPLICATION_PASSWORD": "replication-password",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.ha.yml").read_text())  # type: ignore[no-any-return]


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def interpolate(value: object) -> str:
    """What compose substitutes for ${NAME}, ${NAME:-default} and ${NAME:?error}, NAME taken
    from SHELL when set there."""

    def one(m: re.Match[str]) -> str:
        name, op, word = m[1], m[2] or "", m[3] or ""
        if name in SHELL:
            return SHELL[name]
        assert op != ":?", f"{name} is required: {word}"
        return word

    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", one, str(value)).replace("$$", "$")


def env_of(service: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in services()[service]["environment"].items()}


def test_valid_against_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(compose())
    ]
    assert not errors, errors


@pytest.mark.parametrize("service", [*BEACON_SERVICES, "migrate"])
def test_beacon_variables_are_settings_values(service):
    env = RecordingEnv(env_of(service))
    settings = Settings.from_env(env)
    unknown = set(env_of(service)) - env.read
    assert not unknown, f"{service} sets variables no code reads: {sorted(unknown)}"
    assert settings.trusted_proxies  # the proxy's X-Forwarded-For is believed


def test_beacon_services_share_one_environment():
    envs = {s: env_of(s) for s in (*BEACON_SERVICES, "migrate")}
    assert len({tuple(sorted(e.items())) for e in envs.values()}) == 1, envs


@pytest.mark.parametrize("service", [*BEACON_SERVICES, "migrate"])
def test_commands_are_beacon_subcommands(service):
    command = services()[service]["command"]
    args = _parser().parse_args(command)
    assert command[0] == service and getattr(args, "name", service) == service


def test_database_url_lists_both_nodes_and_wants_the_writable_one():
    url = urlsplit(env_of("ingest")["DATABASE_URL"])
    hosts = {host for host, _ in url_hosts(url.netloc)}
    assert hosts == {"pg-a", "pg-b"} <= set(services())
    assert parse_qs(url.query)["target_session_attrs"] == ["read-write"]


def test_redis_url_names_the_sentinels_watching_the_primary():
    settings = queue.redis_settings(env_of("ingest")["REDIS_URL"])
    assert settings.sentinel
    sentinels = {host for host, _ in settings.host}  # type: ignore[union-attr]
    assert len(sentinels) == 3 and sentinels <= set(services())
    config = compose()["configs"]["sentinel"]["content"]
    monitor = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", config, re.M)
    assert monitor, config
    master, host, _, quorum = monitor.groups()
    assert master == settings.sentinel_master and host in services()
    assert int(quorum) == len(sentinels) // 2 + 1


def test_redis_keeps_jobs_and_never_evicts_on_both_nodes():
    for name in ("redis-a", "redis-b"):
        command = services()[name]["command"]
        assert command[command.index("--appendonly") + 1] == "yes", name
        assert command[command.index("--maxmemory-policy") + 1] == "noeviction", name
    replica = services()["redis-b"]["command"]
    assert replica[replica.index("--replicaof") + 1] == "redis-a"


def test_two_replicas_of_each_behind_the_proxy_only():
    spec = services()
    for name in BEACON_SERVICES:
        assert spec[name]["deploy"]["replicas"] >= 2, name
        assert "ports" not in spec[name], f"{name}: replicas cannot share a published port"
        assert spec[name].get("restart") in ("unless-stopped", "always"), name
        assert spec[name].get("healthcheck", {}).get("test"), name
    published = {n for n, s in spec.items() if s.get("ports")}
    assert published == {"proxy"}
    # The address the replicas see the proxy at is the one they trust.
    proxy_address = spec["proxy"]["networks"]["back"]["ipv4_address"]
    trusted = Settings.from_env(env_of("ingest")).trusted_proxies
    assert any(proxy_address == t.split("/")[0] for t in trusted), (proxy_address, trusted)
    caddyfile = compose()["configs"]["caddyfile"]["content"]
    assert "dynamic a ingest 8080" in caddyfile and "dynamic a notifier 8081" in caddyfile


def test_postgres_replication_is_synchronous():
    patroni = yaml.safe_load(compose()["configs"]["patroni"]["content"])
    dcs = patroni["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True
    assert dcs["postgresql"]["parameters"]["synchronous_commit"] == "on"
