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

from shared import database, runtime
from shared.config import (
    ConfigError,
    Settings,
    audit_secrets_from_env,
    database_url_from_env,
    secret_keys_from_env,
)
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
    g = asub.add_parser(
        "init-secrets",
        help="create any missing secret files in DIR (random, mode 0600; existing ones kept) "
        "and say where the admin token is",
    )
    g.add_argument("--dir", type=Path, required=True, help="e.g. /run/beacon-secrets")
    g.add_argument(
        "--owner", help="UID:GID to give the files (when run as root for a fresh volume)"
    )
    g.set_defaults(run=_init_secrets)
    r = asub.add_parser(
        "reencrypt-secrets",
        help="re-encrypt every authenticator secret under BEACON_SECRET_KEY (the old keys from "
        "BEACON_OLD_SECRET_KEYS open them); idempotent, in batches; prints the counts",
    )
    r.add_argument("--batch", type=int, default=500, help="devices per transaction")
    r.set_defaults(run=_reencrypt_secrets)
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
    runtime.use_uvloop()
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


# File name -> (what it is, random bytes). Services read them through the *_FILE variables.
SECRET_FILES = {
    "admin-token": ("BEACON_ADMIN_TOKEN", 32),
    "secret-key": ("BEACON_SECRET_KEY", 48),
    "audit-key": ("BEACON_AUDIT_KEY", 48),
    "metrics-token": ("BEACON_METRICS_TOKEN", 32),
    "postgres-password": ("POSTGRES_PASSWORD", 32),
}


def init_secrets(directory: Path, owner: tuple[int, int] | None = None) -> dict[str, bool]:
    """Creates each missing file of SECRET_FILES in `directory` with a random URL-safe value,
    mode 0600; {name: created}. An existing file is never rewritten (it would lose the
    enrolments and the database login), only narrowed to 0600 and given to `owner`. Each file
    appears whole or not at all (written aside, then linked into place)."""
    import secrets

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = {}
    for name, (_, size) in SECRET_FILES.items():
        path = directory / name
        created[name] = not path.exists()
        if created[name]:
            aside = directory / f".{name}.{os.getpid()}"
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, (secrets.token_urlsafe(size) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(aside, path)  # fails if another run made it meanwhile: keep theirs
            except FileExistsError:
                created[name] = False
            finally:
                aside.unlink()
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, *owner)
    if owner is not None:
        os.chown(directory, *owner)
    directory.chmod(0o700)
    return created


def _init_secrets(args: argparse.Namespace) -> int:
    owner = None
    if args.owner:
        uid, _, gid = args.owner.partition(":")
        if not (uid.isdigit() and (gid or uid).isdigit()):
            raise ConfigError("--owner", "must be UID:GID in numbers, e.g. 10001:10001")
        owner = (int(uid), int(gid or uid))
    try:
        created = init_secrets(args.dir, owner)
    except PermissionError as e:
        print(f"beacon: cannot write the secrets: {e} (run as root with --owner)", file=sys.stderr)
        return 1
    for name, new in created.items():
        print(f"{args.dir / name}: {'created' if new else 'kept'} ({SECRET_FILES[name][0]})")
    token = args.dir / "admin-token"
    print(
        f"The admin token is in {token}: docker compose exec ingest cat {token}",
        file=sys.stderr,
    )
    return 0


def _reencrypt_secrets(args: argparse.Namespace) -> int:
    from shared.auth.totp import Reencrypted, SecretBox, derive_key, reencrypt_all

    current, old = secret_keys_from_env()
    box = SecretBox(derive_key(current), [derive_key(k) for k in old])

    async def go() -> Reencrypted:
        conn = await asyncpg.connect(database_url_from_env())
        try:
            return await reencrypt_all(conn, box, max(1, args.batch))
        finally:
            await conn.close()

    done = asyncio.run(go())
    print(json.dumps(done.as_dict()))
    if done.unreadable:
        print(
            f"beacon: {done.unreadable} authenticator secrets open under none of the keys "
            "given (totp_devices ids: "
            + ", ".join(str(i) for i in done.unreadable_ids)
            + "): keep the old key in BEACON_OLD_SECRET_KEYS",
            file=sys.stderr,
        )
        return 1
    return 0


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
    from services.ingest.records.roster import sign_out
    from shared import queue
    from shared.auth.sessions import SessionStore

    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        print(
            f"beacon: {len(leavers)} staff made inactive, but REDIS_URL is not set: their "
            "sessions were not ended and last until idle or BEACON_SESSION_MAX_SECONDS",
            file=sys.stderr,
        )
        return 1
    redis = await queue.connect(url)  # as the services connect: plain, TLS or Sentinel
    try:
        await sign_out(SessionStore(redis), leavers)
    finally:
        await redis.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
