"""docker-compose.yml cannot drift from the code: its commands are real `beacon` subcommands,
its variables are exactly ones Settings reads, and the services start as compose starts them.

Docker is not available to the tests, so the file is checked against the code it runs, and
the last test starts every Beacon service as a process with compose's command and variable
names (values from the `env` fixture, hosts at 127.0.0.1).

No secret is written in the file: the one-shot `secrets` service generates them into a volume
the others mount read-only, read through *_FILE variables. Here that volume is a directory made
by the same code (`beacon admin init-secrets`), put where compose's paths point."""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from shared.cli import SECRET_FILES, _parser, init_secrets
from shared.config import PUBLISHED_SECRETS, ConfigError, Settings
from tests.support.processes import Service, service_env
from tests.support.until import until

ROOT = Path(__file__).resolve().parents[2]
BEACON_SERVICES = ("ingest", "worker", "notifier")
HTTP_PORTS = {"ingest": "INGEST_PORT", "notifier": "NOTIFIER_PORT"}
SECRETS_DIR = "/run/beacon-secrets"  # the secrets volume, in every container
ONE_SHOTS = ("secrets", "migrate")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def interpolate(value: str) -> str:
    """What compose substitutes for `${NAME:-default}` when NAME is not set in the shell."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m[1] or "", str(value)).replace("$$", "$")


@functools.cache
def local_secrets() -> Path:
    """This machine's stand-in for the secrets volume, written by init-secrets' own code."""
    directory = Path(tempfile.mkdtemp(prefix="beacon-secrets-")) / "volume"
    atexit.register(shutil.rmtree, directory.parent, True)
    init_secrets(directory)
    return directory


def compose_env(service: str) -> dict[str, str]:
    """The service's variables as compose sets them, paths into the secrets volume pointing at
    local_secrets() instead."""
    return {
        k: interpolate(v).replace(SECRETS_DIR, str(local_secrets()))
        for k, v in services()[service]["environment"].items()
    }


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
            # Removing X_FILE leaves X unset: the error names X.
            assert e.variable in (name, name.removesuffix("_FILE")), (
                f"removing {name} made {e.variable} fail"
            )
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
        "BEACON_ADMIN_TOKEN_FILE",
        "BEACON_SECRET_KEY_FILE",
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


def test_secrets_is_a_one_shot_everything_else_waits_for():
    spec = services()
    secrets = spec["secrets"]
    args = _parser().parse_args(secrets["command"])
    assert args.run.__name__ == "_init_secrets" and str(args.dir) == SECRETS_DIR
    assert secrets.get("restart") in (None, "no")
    assert secrets["network_mode"] == "none"
    assert secrets["volumes"] == [f"secrets:{SECRETS_DIR}"]
    # Root only to write the fresh volume; the files go to the image's own user.
    uid = re.search(r"useradd [^\n]*--uid (\d+)", (ROOT / "Dockerfile").read_text())
    assert uid and args.owner == f"{uid[1]}:{uid[1]}"
    for name, service in spec.items():
        if name == "secrets":
            continue
        if name in ("redis", "mailpit"):
            assert not any("secrets" in str(v) for v in service.get("volumes", [])), name
            continue
        assert service["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
        assert f"secrets:{SECRETS_DIR}:ro" in service["volumes"], name


def test_no_secret_is_written_in_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    for value in PUBLISHED_SECRETS:
        assert value not in text
    secretish = re.compile(r"TOKEN|KEY|PASSWORD|SECRET")
    for name, service in services().items():
        env = service.get("environment", {})
        for variable, value in env.items():
            if variable.endswith("_FILE"):
                # Each file is one init-secrets makes, under the name it makes it for.
                path = Path(str(value))
                assert str(path.parent) == SECRETS_DIR, (name, variable)
                assert SECRET_FILES[path.name][0] == variable.removesuffix("_FILE")
            else:
                assert not secretish.search(variable), f"{name} sets {variable} in the file"
        url = env.get("DATABASE_URL", "")
        assert not re.search(r"://[^@/]*:[^@/]*@", url), f"{name}: a password in DATABASE_URL"
    beacon_files = {v for k, v in compose_env("ingest").items() if k.endswith("_FILE")}
    assert len(beacon_files) == len(SECRET_FILES)  # every file made is read by Beacon
    postgres = services()["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres
    assert (
        postgres["POSTGRES_PASSWORD_FILE"]
        == services()["ingest"]["environment"]["POSTGRES_PASSWORD_FILE"]
    )


def test_only_beacon_listens_beyond_this_machine():
    # Mailpit shows every email, password-reset links included; PostgreSQL and Redis hold the
    # records: loopback only, or not published at all.
    for name, service in services().items():
        for port in service.get("ports", []):
            if name in HTTP_PORTS:
                continue
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert services()["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]


def test_init_secrets_as_compose_runs_it(tmp_path):
    # The real command, with this machine's directory and user in place of the volume's.
    command = services()["secrets"]["command"]
    directory = tmp_path / "volume"
    args = [str(directory) if a == SECRETS_DIR else a for a in command[: command.index("--owner")]]
    owner = f"{os.getuid()}:{os.getgid()}"
    first = beacon_command([*args, "--owner", owner], {})
    assert first.returncode == 0, first.stderr
    assert f"{directory}/admin-token" in first.stderr.decode()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    values = {}
    for name in SECRET_FILES:
        path = directory / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        values[name] = path.read_text()
        assert values[name].endswith("\n") and len(values[name].strip()) >= 32, name
    assert len(set(values.values())) == len(values)
    (directory / "metrics-token").chmod(0o644)
    again = beacon_command([*args, "--owner", owner], {})
    assert again.returncode == 0, again.stderr
    assert {n: (directory / n).read_text() for n in SECRET_FILES} == values  # kept
    assert stat.S_IMODE((directory / "metrics-token").stat().st_mode) == 0o600
    assert "kept" in again.stdout.decode() and "created" not in again.stdout.decode()


def test_every_long_running_service_restarts_and_has_a_healthcheck():
    for name, spec in services().items():
        if name in ONE_SHOTS:
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
            named = (re.search(rf"(?<![\w-]){h}(?![\w-])", value) for h in hosts)
            assert not any(named), f"{name} points at a compose host"
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
    assert "BEACON_ADMIN_TOKEN" not in process_env("ingest", env)  # from the file only
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
        # The admin token in force is the generated one, and only it.
        url = f"http://127.0.0.1:{env['INGEST_PORT']}/v1/schools"
        generated = (local_secrets() / "admin-token").read_text().strip()
        for token, status in ((env["BEACON_ADMIN_TOKEN"], 401), (generated, 201)):
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(url, json={"name": "Hillside"}, headers=headers) as r:
                assert r.status == status, await r.text()
