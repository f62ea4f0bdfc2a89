"""Start Beacon services as real processes, exactly as docker-compose.yml does: the same
`beacon <service>` command and the same environment variable names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

LOG_DIR = Path(os.environ.get("BEACON_TEST_LOGS", "/tmp/beacon-test-logs"))


def service_env(values: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEACON_", "SMTP_"))}
    env.update(values)
    return env


class Service:
    def __init__(self, name: str, env: Mapping[str, str], health_port: int | None = None) -> None:
        self.name = name
        self.env = service_env(env)
        self.health_port = health_port
        self.proc: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}-{os.getpid()}-{id(self)}.log"

    @property
    def command(self) -> list[str]:
        beacon = Path(sys.executable).with_name("beacon")
        return [str(beacon), self.name]

    def start(self, wait: float = 20.0) -> Service:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if self.health_port is not None:
            self.wait_healthy(wait)
        return self

    def wait_healthy(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            assert self.proc and self.proc.poll() is None, f"{self.name} exited: {self.tail()}"
            try:
                with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 - loopback
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.name} not healthy in {wait}s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash or an OOM kill would leave it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""
