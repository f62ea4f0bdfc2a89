"""The `beacon` command: one entry point for every service and admin task.

docker-compose.yml and the tests start services through exactly these subcommands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from shared import database
from shared.config import ConfigError, Settings, audit_secrets_from_env, database_url_from_env
from shared.database import Connection
from shared.logs import configure_logging

if TYPE_CHECKING:
    from shared.audit import AuditKeys


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ConfigError as e:
        print(f"beacon: configuration error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="beacon", description="Beacon safeguarding alerts")
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)
    for name in ("ingest", "worker", "notifier"):
        svc = sub.add_parser(name, help=f"run the {name} service")
        svc.set_defaults(run=_service, name=name)
    worker = sub.choices["worker"]
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a worker has reported healthy recently (for healthchecks)",
    )
    admin = sub.add_parser("admin", help="schools, API keys, roster import")
    asub = admin.add_subparsers(required=True, metavar="TASK")
    s = asub.add_parser("create-school", help="create a school; prints its id")
    s.add_argument("name")
    s.set_defaults(run=_admin(_create_school))
    k = asub.add_parser("api-key", help="issue an API key for a school; printed once")
    k.add_argument("school_id", type=uuid.UUID)
    k.add_argument("name")
    k.set_defaults(run=_admin(_issue_key))
    i = asub.add_parser("import", help="upsert a roster JSON file (staff, classes, pupils)")
    i.add_argument("school_id", type=uuid.UUID)
    i.add_argument("file", type=Path)
    i.set_defaults(run=_import_roster)
    v = asub.add_parser(
        "verify-audit",
        help="check the audit log's hash chains and MACs; exit 1 if "
        "any entry was altered, deleted or inserted",
    )
    v.add_argument(
        "--checkpoint",
        type=Path,
        help="a witness's file of audit-checkpoint lines: each chain must still hold the head "
        "its latest line signed",
    )
    v.set_defaults(run=_verify_audit)
    c = asub.add_parser(
        "audit-checkpoint",
        help="sign each audit chain's head (one JSON line per chain) for a witness",
    )
    c.add_argument("--out", type=Path, help="append the lines to this file (default: stdout)")
    c.set_defaults(run=_audit_checkpoint)
    return p


def _migrate(args: argparse.Namespace) -> int:
    configure_logging(service="migrate")

    async def go() -> None:
        conn = await asyncpg.connect(database_url_from_env())
        try:
            await database.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(go())
    return 0


def _service(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if getattr(args, "check", False):
        from services.worker.health import check

        return 0 if asyncio.run(check(settings)) else 1
    configure_logging(settings.log_level, service=args.name)
    if args.name == "ingest":
        from services.ingest.main import run
    elif args.name == "worker":
        from services.worker.main import run
    else:
        from services.notifier.main import run
    run(settings)
    return 0


def _verify_audit(args: argparse.Namespace) -> int:
    from shared.audit import verify_audit_cli

    keys = _audit_keys()
    lines: list[str] = []
    if args.checkpoint is not None:
        if keys is None:
            raise ConfigError("BEACON_AUDIT_KEY", "checking a checkpoint needs the audit key")
        lines = args.checkpoint.read_text().splitlines()
    return asyncio.run(verify_audit_cli(database_url_from_env(), keys, lines))


def _audit_checkpoint(args: argparse.Namespace) -> int:
    from shared.audit import checkpoint_cli

    keys = _audit_keys()
    if keys is None:
        raise ConfigError("BEACON_AUDIT_KEY", "signing a checkpoint needs it or BEACON_SECRET_KEY")
    status, lines = asyncio.run(checkpoint_cli(database_url_from_env(), keys))
    text = "".join(line + "\n" for line in lines)
    if args.out is None:
        sys.stdout.write(text)
    else:
        with args.out.open("a") as out:  # a witness keeps every checkpoint
            out.write(text)
    print(f"audit checkpoint: {len(lines)} chain heads signed", file=sys.stderr)
    return status


def _audit_keys() -> AuditKeys | None:
    from shared.audit import AuditKeys

    return AuditKeys.from_secrets(*audit_secrets_from_env())


AdminTask = Callable[[Connection, argparse.Namespace], Awaitable[Any]]


def _admin(task: AdminTask) -> Callable[[argparse.Namespace], int]:
    def runner(args: argparse.Namespace) -> int:
        async def go() -> Any:
            conn = await asyncpg.connect(database_url_from_env())
            try:
                async with conn.transaction():
                    return await task(conn, args)
            finally:
                await conn.close()

        print(json.dumps(asyncio.run(go())))
        return 0

    return runner


async def _create_school(conn: Connection, args: argparse.Namespace) -> dict[str, str]:
    from services.ingest.records.schools import create_school

    return {"id": str(await create_school(conn, args.name))}


async def _issue_key(conn: Connection, args: argparse.Namespace) -> dict[str, str]:
    from shared.auth.api_keys import create_api_key

    return {"key": await create_api_key(conn, args.school_id, args.name)}


def _import_roster(args: argparse.Namespace) -> int:
    """Like the admin tasks, and then the leavers' sessions end (once the import committed)."""
    from services.ingest.records.roster import import_roster, made_inactive, parse_roster

    roster = parse_roster(json.loads(args.file.read_text()))

    async def go() -> tuple[dict[str, int], list[uuid.UUID]]:
        conn = await asyncpg.connect(database_url_from_env())
        try:
            async with conn.transaction():
                counts = await import_roster(conn, args.school_id, roster)
                return counts, await made_inactive(conn, args.school_id)
        finally:
            await conn.close()

    counts, leavers = asyncio.run(go())
    print(json.dumps(counts))
    if leavers:
        return asyncio.run(_sign_out(leavers))
    return 0


async def _sign_out(leavers: list[uuid.UUID]) -> int:
    from redis.asyncio import Redis

    from services.ingest.records.roster import sign_out
    from shared.auth.sessions import SessionStore

    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        print(
            f"beacon: {len(leavers)} staff made inactive, but REDIS_URL is not set: their "
            "sessions were not ended and last until idle or BEACON_SESSION_MAX_SECONDS",
            file=sys.stderr,
        )
        return 1
    redis = Redis.from_url(url)
    try:
        await sign_out(SessionStore(redis), leavers)
    finally:
        await redis.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
