"""Three `redis-sentinel` processes (Debian's package) watching a private Redis primary, for
tests that kill the primary and expect the sentinels to promote its replica.

Each sentinel has its own port, directory and config file (a sentinel rewrites its config as
it learns the other sentinels, the replicas and each new master). `down-after-milliseconds`
is kept small so a failover takes a couple of seconds, not the default 30 s.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.ports import free_port

MASTER = "mymaster"


class Sentinel:
    def __init__(
        self, master_port: int, quorum: int, down_after_ms: int, failover_timeout_ms: int
    ) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="beacon-sentinel-"))
        self.config = self.dir / "sentinel.conf"
        self.config.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {self.dir}",
                    f"logfile {self.dir / 'sentinel.log'}",
                    f"sentinel monitor {MASTER} 127.0.0.1 {master_port} {quorum}",
                    f"sentinel down-after-milliseconds {MASTER} {down_after_ms}",
                    f"sentinel failover-timeout {MASTER} {failover_timeout_ms}",
                    f"sentinel parallel-syncs {MASTER} 1",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sentinel:
        binary = shutil.which("redis-sentinel")
        assert binary, "redis-sentinel is not installed (apt-get install redis-sentinel; .ci/run)"
        self.proc = subprocess.Popen(
            [binary, str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return self
            except redis.ConnectionError:
                assert self.proc.poll() is None, f"sentinel exited: {self.tail()}"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def master(self) -> dict[str, str]:
        """SENTINEL MASTER's fields: ip, port, num-slaves, num-other-sentinels, flags..."""
        with self.client() as c:
            return c.sentinel_master(MASTER)  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 3000) -> str:
        try:
            return (self.dir / "sentinel.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""


class SentinelSet:
    """Sentinels enough for a quorum of 2 to agree a primary is down and elect a leader."""

    def __init__(
        self,
        master_port: int,
        count: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        quorum = count // 2 + 1
        self.sentinels = [
            Sentinel(master_port, quorum, down_after_ms, failover_timeout_ms) for _ in range(count)
        ]

    def start(self) -> SentinelSet:
        for s in self.sentinels:
            s.start()
        return self

    def url(self, db: int = 0) -> str:
        """REDIS_URL naming this set (shared/config.py, shared/queue.redis_settings)."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}/{db}"

    def master_port(self) -> int:
        """Where the sentinels (the first that answers) say the master is now."""
        for s in self.sentinels:
            try:
                with s.client() as c:
                    _, port = c.sentinel_get_master_addr_by_name(MASTER)
                    return int(port)
            except redis.RedisError:
                continue
        raise AssertionError("no sentinel answered")

    def ready(self, replicas: int = 1) -> bool:
        """Every sentinel knows the others and the replicas, and sees the master up: a
        failover can be agreed now."""
        try:
            views = [s.master() for s in self.sentinels]
        except redis.RedisError:
            return False
        others = len(self.sentinels) - 1
        return all(
            int(v["num-other-sentinels"]) >= others
            and int(v["num-slaves"]) >= replicas
            and "down" not in v["flags"]
            for v in views
        )

    def tails(self) -> str:
        return "\n".join(f"--- sentinel {s.port}\n{s.tail()}" for s in self.sentinels)

    def cleanup(self) -> None:
        for s in self.sentinels:
            s.stop()
            shutil.rmtree(s.dir, ignore_errors=True)
