"""A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port in a temp dir, for fault
tests that stop and restart the database server itself without touching the shared one.

PostgreSQL refuses to run as root: when we are root (CI is), the cluster belongs to the
`postgres` OS user (created by the postgresql package) and every server command runs through
`runuser -u postgres`. Otherwise it runs as the current user. Connections use TCP on 127.0.0.1
with `trust` authentication as the superuser `postgres`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port

SERVER_OWNER = "postgres"  # used only when we run as root


def _bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    assert initdb, "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    return Path(initdb).parent


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bin = _bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="beacon-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:  # the server's files must belong to the user it runs as
            owner = pwd.getpwnam(SERVER_OWNER)
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_OWNER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def init(self) -> PostgresServer:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
            "max_connections": "200",
            # A test cluster: nothing here must survive an OS crash, only a server restart.
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        return self

    def start(self) -> PostgresServer:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """mode: smart | fast (disconnect clients, clean shutdown) | immediate (crash-like)."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False
            )

    def standby(self) -> PostgresServer:
        """A streaming standby of this running server on a port of its own: pg_basebackup -R
        (standby.signal and primary_conninfo) through a replication slot, so the primary keeps
        the WAL it has not had. Not started; call `synchronous()` here once it streams."""
        standby = PostgresServer()
        slot = f"standby_{standby.port}"
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
            *("-D", str(standby.data), "-R", "-X", "stream", "-C", "-S", slot, "--no-sync"),
        )
        own = {
            "port": str(standby.port),
            "unix_socket_directories": f"'{standby.dir}'",
            # Once promoted it has no standby of its own to wait for.
            "synchronous_standby_names": "''",
        }
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in own.items())
        return standby

    def synchronous(self, standby_names: str = "*") -> None:
        """Commit only once a standby has flushed the WAL too (synchronous_commit=on): an
        acknowledged commit survives losing this server."""
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"synchronous_standby_names = '{standby_names}'\nsynchronous_commit = on\n")
        self._run("pg_ctl", "-D", str(self.data), "reload")

    def promote(self) -> None:
        """End recovery: a standby becomes a primary (pg_ctl promote, waiting until it is)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "promote")

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""
