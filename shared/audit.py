"""The append-only, tamper-evident audit log: who did or saw what, when, from where.

Each school has its own chain (plus one for events with no school): entry n carries
seq = n, prev_hash = hash of entry n-1 (32 zero bytes for the first) and
hash = sha256(prev_hash || canonical JSON of the entry). Appends to one chain are serialised by
a transaction-scoped advisory lock, and `audit_heads` records each chain's newest entry so that
deleting the tail is caught as well as an edit or a gap. The table refuses UPDATE and DELETE;
the chain is what shows that nobody went around that (e.g. a superuser disabling the trigger).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared.database import Connection

GENESIS = bytes(32)
_LOCK_CLASS = 0x6175  # "au": namespaces our advisory locks from other users of int4 pairs

JsonValue = str | int | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditProblem:
    school_id: uuid.UUID | None
    seq: int
    kind: str  # 'altered' | 'broken_link' | 'gap' | 'truncated'
    detail: str

    def __str__(self) -> str:
        return f"school {self.school_id or '-'} seq {self.seq}: {self.kind}: {self.detail}"


async def append(
    conn: Connection,
    *,
    school_id: uuid.UUID | None,
    action: str,
    actor_staff_id: uuid.UUID | None = None,
    actor_api_key_id: uuid.UUID | None = None,
    subject_type: str | None = None,
    subject_id: str | uuid.UUID | None = None,
    ip: str | None = None,
    detail: Mapping[str, JsonValue] | None = None,
) -> int:
    """Append one entry; returns its id. Runs in the caller's transaction when there is one
    (as a savepoint), so an audited read or write and its entry commit together."""
    entry = {
        "school_id": _text(school_id),
        "at": datetime.now(UTC).isoformat(),
        "actor_staff_id": _text(actor_staff_id),
        "actor_api_key_id": _text(actor_api_key_id),
        "action": action,
        "subject_type": subject_type,
        "subject_id": _text(subject_id),
        "ip": _ip(ip),
        "detail": _checked(dict(detail or {})),
    }
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, '')))",
            _LOCK_CLASS,
            entry["school_id"],
        )
        head = await conn.fetchrow(
            "SELECT seq, hash FROM audit_heads WHERE school_id IS NOT DISTINCT FROM $1", school_id
        )
        seq, prev = (head["seq"] + 1, bytes(head["hash"])) if head else (1, GENESIS)
        digest = entry_hash(prev, {**entry, "seq": seq})
        entry_id: int = await conn.fetchval(
            """INSERT INTO audit_log (school_id, seq, at, actor_staff_id, actor_api_key_id,
                   action, subject_type, subject_id, ip, detail, prev_hash, hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12) RETURNING id""",
            school_id,
            seq,
            datetime.fromisoformat(entry["at"]),
            actor_staff_id,
            actor_api_key_id,
            action,
            subject_type,
            entry["subject_id"],
            entry["ip"],
            canonical(entry["detail"]),
            prev,
            digest,
        )
        await conn.execute(
            """INSERT INTO audit_heads (school_id, seq, hash) VALUES ($1, $2, $3)
               ON CONFLICT (school_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash""",
            school_id,
            seq,
            digest,
        )
    return entry_id


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: bytes, entry: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical(entry).encode()).digest()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None  # a proxy header with junk in it must not stop the audit


def _checked(value: Any) -> Any:
    """JSON that round-trips through jsonb unchanged: no floats (jsonb rewrites them)."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("audit detail keys must be strings")
        return {k: _checked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_checked(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"audit detail values must be str, int, bool, None, list or dict: {value!r}")


def _row_entry(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "school_id": _text(row["school_id"]),
        "at": row["at"].astimezone(UTC).isoformat(),
        "actor_staff_id": _text(row["actor_staff_id"]),
        "actor_api_key_id": _text(row["actor_api_key_id"]),
        "action": row["action"],
        "subject_type": row["subject_type"],
        "subject_id": row["subject_id"],
        "ip": _text(row["ip"]),
        "detail": json.loads(row["detail"]),
        "seq": row["seq"],
    }


async def verify(conn: Connection, school_id: uuid.UUID | None = None) -> list[AuditProblem]:
    """Every problem found in one school's chain, or in every chain when school_id is None."""
    if school_id is not None:
        chains = [school_id]
    else:
        chains = [
            r["school_id"]
            for r in await conn.fetch(
                "SELECT school_id FROM audit_log UNION SELECT school_id FROM audit_heads"
            )
        ]
    problems: list[AuditProblem] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for chain in chains:
            problems.extend(await _verify_chain(conn, chain))
    return problems


async def _verify_chain(conn: Connection, school_id: uuid.UUID | None) -> list[AuditProblem]:
    problems: list[AuditProblem] = []
    last_seq, last_hash = 0, GENESIS
    async for row in conn.cursor(
        """SELECT * FROM audit_log WHERE school_id IS NOT DISTINCT FROM $1
               ORDER BY seq""",
        school_id,
    ):
        problems.extend(_check_row(row, last_seq, last_hash))
        last_seq, last_hash = row["seq"], bytes(row["hash"])
    head = await conn.fetchrow(
        "SELECT seq, hash FROM audit_heads WHERE school_id IS NOT DISTINCT FROM $1", school_id
    )
    if head is None and last_seq:
        problems.append(AuditProblem(school_id, last_seq, "truncated", "the chain head is gone"))
    elif head is not None and (head["seq"] != last_seq or bytes(head["hash"]) != last_hash):
        problems.append(
            AuditProblem(
                school_id,
                head["seq"],
                "truncated",
                f"the head is entry {head['seq']} but the newest row is "
                f"{last_seq}: newest entries deleted or replaced",
            )
        )
    return problems


def _check_row(row: asyncpg.Record, last_seq: int, last_hash: bytes) -> list[AuditProblem]:
    problems: list[AuditProblem] = []
    school, seq = row["school_id"], row["seq"]
    if seq != last_seq + 1:
        problems.append(
            AuditProblem(school, seq, "gap", f"entries {last_seq + 1}..{seq - 1} are missing")
        )
    elif bytes(row["prev_hash"]) != last_hash:
        problems.append(
            AuditProblem(
                school, seq, "broken_link", "prev_hash does not match the previous entry's hash"
            )
        )
    if entry_hash(bytes(row["prev_hash"]), _row_entry(row)) != bytes(row["hash"]):
        problems.append(AuditProblem(school, seq, "altered", "the entry does not match its hash"))
    return problems


async def verify_audit_cli(database_url: str) -> int:
    """`beacon admin verify-audit`: prints each problem; exit status 0 when the log is intact."""
    conn = await asyncpg.connect(database_url)
    try:
        problems = await verify(conn)
        count = await conn.fetchval("SELECT count(*) FROM audit_log")
    finally:
        await conn.close()
    for p in problems:
        print(p, file=sys.stderr)
    print(f"audit log: {count} entries, {len(problems)} problems")
    return 1 if problems else 0
