"""docker-compose.yml cannot drift from the code: its commands are real `beacon` subcommands,
its variables are exactly ones Settings reads, and the services start as compose starts them.

Docker is not available to the tests, so the file is checked against the code it runs, and
the last test starts every Beacon service as a process with compose's command and variable
names (values from the `env` fixture, hosts at 127.0.0.1)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from shared.cli import _parser
from shared.config import ConfigError, Settings
from tests.support.processes import Service, service_env
from tests.support.until import until

ROOT = Path(__file__).resolve().parents[2]
BEACON_SERVICES = ("ingest", "worker", "notifier")
HTTP_PORTS = {"ingest": "INGEST_PORT", "notifier": "NOTIFIER_PORT"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def interpolate(value: str) -> str:
    """What compose substitutes for `${NAME:-default}` when NAME is not set in the shell."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m[1] or "", str(value)).replace("$$", "$")


def compose_env(service: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in services()[service]["environment"].items()}


class RecordingEnv(dict[str, str]):
    """An environment that remembers every variable Settings.from_env looks up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def variables_settings_reads() -> set[str]:
    env = RecordingEnv(compose_env("ingest"))
    Settings.from_env(env)
    return env.read


def variables_settings_requires() -> set[str]:
    full = compose_env("ingest")
    required = set()
    for name in variables_settings_reads():
        try:
            Settings.from_env({k: v for k, v in full.items() if k != name})
        except ConfigError as e:
            assert e.variable == name, f"removing {name} made {e.variable} fail"
            required.add(name)
    return required


def test_settings_variables_are_found_by_recording():
    # Guards the recording itself: if Settings stopped reading through the mapping we pass it,
    # every check below would pass vacuously.
    read = variables_settings_reads()
    assert {"DATABASE_URL", "REDIS_URL", "INGEST_PORT", "NOTIFIER_PORT"} <= read
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "SMTP_HOST",
        "SMTP_FROM",
        "BEACON_BASE_URL",
        "BEACON_ADMIN_TOKEN",
    } <= variables_settings_requires()


@pytest.mark.parametrize("service", [*BEACON_SERVICES, "migrate"])
def test_compose_sets_only_variables_settings_reads(service):
    unknown = set(compose_env(service)) - variables_settings_reads()
    assert not unknown, f"{service} sets variables no code reads: {sorted(unknown)}"


@pytest.mark.parametrize("service", [*BEACON_SERVICES, "migrate"])
def test_compose_sets_every_required_variable(service):
    missing = variables_settings_requires() - set(compose_env(service))
    assert not missing, f"{service} lacks required variables: {sorted(missing)}"


@pytest.mark.parametrize("service", BEACON_SERVICES)
def test_compose_values_are_valid_settings(service):
    Settings.from_env(compose_env(service))


def test_beacon_services_share_one_environment():
    envs = {s: compose_env(s) for s in (*BEACON_SERVICES, "migrate")}
    assert len({tuple(sorted(e.items())) for e in envs.values()}) == 1, envs


@pytest.mark.parametrize("service", BEACON_SERVICES)
def test_service_command_is_its_beacon_subcommand(service):
    command = services()[service]["command"]
    args = _parser().parse_args(command)
    assert args.name == service
    assert Service(service, {}).command[1:] == command  # how the tests start it


def test_migrate_is_a_one_shot_the_services_wait_for():
    spec = services()
    assert spec["migrate"]["command"] == ["migrate"]
    _parser().parse_args(spec["migrate"]["command"])
    assert spec["migrate"].get("restart") in (None, "no")
    assert spec["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in BEACON_SERVICES:
        assert spec[service]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_every_long_running_service_restarts_and_has_a_healthcheck():
    for name, spec in services().items():
        if name == "migrate":
            continue
        assert spec.get("restart") in ("unless-stopped", "always"), name
        assert spec.get("healthcheck", {}).get("test"), name


@pytest.mark.parametrize("service", HTTP_PORTS)
def test_http_healthchecks_ask_the_configured_port(service):
    test = services()[service]["healthcheck"]["test"]
    script = " ".join(test)
    assert "/healthz" in script and f"os.environ['{HTTP_PORTS[service]}']" in script
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "healthcheck", "exec")


def test_worker_healthcheck_is_the_beacon_check_command():
    test = services()["worker"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "beacon"]
    args = _parser().parse_args(test[2:])
    assert args.name == "worker" and args.check


@pytest.mark.parametrize("service", HTTP_PORTS)
def test_published_port_is_the_configured_port(service):
    port = compose_env(service)[HTTP_PORTS[service]]
    published = [str(p).split(":")[-1] for p in services()[service]["ports"]]
    assert published == [port]


def test_redis_keeps_jobs_on_restart_and_never_evicts():
    command = services()["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert command[0] == "redis-server"
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"


def test_beacon_hosts_are_compose_services():
    env = compose_env("ingest")
    spec = services()
    for url in (env["DATABASE_URL"], env["REDIS_URL"]):
        assert re.match(r"\w+://(?:[^@/]*@)?([\w-]+)", url)[1] in spec, url
    assert env["SMTP_HOST"] in spec


def test_dockerfile_runs_beacon_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert '\nENTRYPOINT ["beacon"]' in text


# --- The services, started as compose starts them -------------------------------------------


def process_env(service: str, env: dict[str, str]) -> dict[str, str]:
    """Compose's variable names for `service`; values from the test environment."""
    values = {}
    hosts = set(services())
    for name, value in compose_env(service).items():
        if name not in env:
            assert not any(h in value for h in hosts), f"{name} points at a compose host"
        values[name] = env.get(name, value)
    return values


@pytest.fixture
def started() -> Iterator[list[Service]]:
    running: list[Service] = []
    yield running
    for service in running:
        service.stop()


def beacon_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    beacon = str(Path(sys.executable).with_name("beacon"))
    return subprocess.run(
        [beacon, *args], env=service_env(env), capture_output=True, timeout=60, check=False
    )


async def wait_worker_check(env: dict[str, str], worker: Service, wait: float = 20.0) -> None:
    command = services()["worker"]["healthcheck"]["test"][2:]
    last: list[subprocess.CompletedProcess[bytes]] = []

    async def healthy() -> bool:
        assert worker.proc and worker.proc.poll() is None, f"worker exited: {worker.tail()}"
        last[:] = [await asyncio.to_thread(beacon_command, command, env)]
        return last[0].returncode == 0

    await until(healthy, wait, lambda: f"worker --check: {last[0].stderr[-2000:]!r}", 0.2)


async def test_services_start_as_compose_starts_them(env, started):
    migrate = beacon_command(services()["migrate"]["command"], process_env("migrate", env))
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    for name in BEACON_SERVICES:
        values = process_env(name, env)
        port = HTTP_PORTS.get(name)
        service = Service(
            services()[name]["command"][0], values, health_port=int(values[port]) if port else None
        )
        started.append(service.start())
    await wait_worker_check(process_env("worker", env), started[1])
    async with aiohttp.ClientSession() as http:
        for name, port in HTTP_PORTS.items():
            for path in ("/healthz", "/readyz"):
                async with http.get(f"http://127.0.0.1:{env[port]}{path}") as r:
                    assert r.status == 200, (name, path, await r.text())
