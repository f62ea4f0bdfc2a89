"""PostgreSQL: the connection pool and the migration runner.

Query functions elsewhere take a connection and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# What query functions take: a connection of their own, or one borrowed from a pool, which
# asyncpg hands out as a proxy to the connection rather than a Connection itself.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

# Errors that mean "PostgreSQL is away or restarting", not "our query is wrong": callers shed
# (503) or retry them, never report them as bugs.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
    # A pooled connection that received the server's shutdown error while idle is handed out
    # before its socket closes: asyncpg then raises this (MagicStack/asyncpg#1069).
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
    TimeoutError,
)

# Any failure of a statement, the server's or the connection's: for best-effort paths that
# log and leave the work to a sweeper (asyncpg's InternalClientError is neither a
# PostgresError nor an InterfaceError, and once escaped such a path).
QUERY_FAILED: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *UNAVAILABLE)

# Any constant works; it only has to be the same in every process that migrates.
_MIGRATION_LOCK = 0x6265_6163_6F6E  # "beacon"


async def create_pool(
    dsn: str, size: int = 10, min_size: int = 1, command_timeout: float = 30.0
) -> asyncpg.Pool:
    """The pool every service uses.

    - No session reset on release: no service changes session state (no SET, LISTEN or
      session-level advisory locks; audit uses transaction-level ones) and asyncpg still rolls
      back an open transaction, so the default RESET ALL query is a wasted round trip per use.
    - No JIT: our queries are short OLTP statements; once a plan's estimate passes
      jit_above_cost (tiny, never-analysed tables such as `schools` make that easy), compiling
      cost ~50 ms of a ~57 ms claim in the notifier.
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=min(min_size, size),
        max_size=size,
        command_timeout=command_timeout,
        reset=_keep_session,
        server_settings={"jit": "off"},
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("shared") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name, (folder / name).read_text()) for name in names]


async def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations in order; safe to run from several processes at once.

    A session advisory lock serialises concurrent runs; each file runs in its own transaction
    and is recorded with its checksum, so an edited, already-applied file is reported.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY, sha256 text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            r["name"]: r["sha256"]
            for r in await conn.fetch("SELECT name, sha256 FROM schema_migrations")
        }
        done: list[str] = []
        for name, sql in migration_files():
            digest = hashlib.sha256(sql.encode()).hexdigest()
            if name in applied:
                if applied[name] != digest:
                    log.warning("migration_changed_after_apply", migration=name)
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)", name, digest
                )
            done.append(name)
            log.info("migration_applied", migration=name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
