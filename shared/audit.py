"""The append-only, tamper-evident audit log: who did or saw what, when, from where.

Each school has its own chain (plus one for events with no school): entry n carries seq = n,
prev_hash = hash of entry n-1 (32 zero bytes for the first) and hash = sha256(prev_hash ||
canonical JSON of the entry). Appends to one chain are serialised by a row lock on the chain's
head (an advisory lock for its first entry): `audit_heads` records each chain's newest entry so
that deleting the tail is caught as well as an edit or a gap. The table refuses UPDATE and
DELETE; the chain is what shows that nobody went around that (e.g. a superuser disabling the
trigger).

A chain alone does not: whoever owns the database can delete rows and re-hash the rest. So each
entry also carries mac = HMAC(audit key, key id, hash) with a key that is not in the database
(BEACON_AUDIT_KEY, or one derived from BEACON_SECRET_KEY: key id "k1"); re-hashed rows cannot get
new MACs. Deleting only the newest rows leaves valid MACs behind, so `checkpoint` signs each
chain's head (seq, hash) for a witness outside the database, and `verify` with those checkpoints
requires every chain to still hold its signed head. Each app installs its keys at startup
(`use_keys`, from shared.auth.state.install); a process that has none writes entries without a
MAC, which `verify` reports as "unkeyed" once a chain has keyed ones.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.database import Connection

GENESIS = bytes(32)
DERIVED_KEY_ID = "k1"  # the key derived from BEACON_SECRET_KEY
_LOCK_CLASS = 0x6175  # "au": namespaces our advisory locks from other users of int4 pairs
_ENTRY = b"beacon audit entry"  # what a MAC is for, so an entry's never passes as a checkpoint's
_CHECKPOINT = b"beacon audit checkpoint"

JsonValue = str | int | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """The key new entries are signed with, and every key a verifier holds, by key id."""

    signing_id: str
    keys: Mapping[str, bytes]

    @classmethod
    def from_secrets(cls, secret_key: str, audit_key: str = "") -> AuditKeys | None:
        """BEACON_AUDIT_KEY signs when set; the key derived from BEACON_SECRET_KEY is kept for
        the entries signed before it was. None when neither is given."""
        keys = {DERIVED_KEY_ID: _derive(secret_key, b"k1")} if secret_key else {}
        if audit_key:
            own = _derive(audit_key, b"own")
            own_id = "a-" + hashlib.sha256(b"beacon audit key id\0" + own).hexdigest()[:8]
            return cls(own_id, {**keys, own_id: own})
        return cls(DERIVED_KEY_ID, keys) if keys else None

    def sign(self, purpose: bytes, message: bytes) -> tuple[str, bytes]:
        return self.signing_id, self.mac(self.signing_id, purpose, message) or b""

    def mac(self, key_id: str, purpose: bytes, message: bytes) -> bytes | None:
        """None when the key is not held."""
        key = self.keys.get(key_id)
        if key is None:
            return None
        tagged = purpose + b"\0" + key_id.encode() + b"\0" + message
        return hmac.new(key, tagged, hashlib.sha256).digest()


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"beacon audit log " + label
    ).derive(secret.encode())


_installed: list[AuditKeys] = []  # this process's signing keys (use_keys), at most one


def use_keys(keys: AuditKeys) -> None:
    """Sign every entry this process appends from now on with `keys` (called at app startup)."""
    _installed[:] = [keys]


def _signature(digest: bytes) -> tuple[str | None, bytes | None]:
    if not _installed:
        return None, None
    return _installed[0].sign(_ENTRY, digest)


@dataclass(frozen=True, slots=True)
class AuditProblem:
    school_id: uuid.UUID | None
    seq: int
    # 'altered' | 'broken_link' | 'gap' | 'truncated' (the chain), 'bad_mac' | 'unkeyed' |
    # 'unknown_key' (the MACs), 'checkpoint' (the witness's heads)
    kind: str
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
    """Append one entry; returns its id. Runs in the caller's transaction when there is one,
    so an audited read or write and its entry commit together (or neither does)."""
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
    if conn.is_in_transaction():  # the caller's: its view or change commits with the entry
        return await _append(conn, school_id, actor_staff_id, actor_api_key_id, entry)
    async with conn.transaction():
        return await _append(conn, school_id, actor_staff_id, actor_api_key_id, entry)


# The chain's head, locked until the transaction ends: appends to one chain queue here. Read
# committed re-reads a head that changed while we waited, so each append follows the last.
_HEAD = "SELECT seq, hash FROM audit_heads WHERE school_id IS NOT DISTINCT FROM $1 FOR UPDATE"

_APPEND = """
WITH entry AS (
    INSERT INTO audit_log (school_id, seq, at, actor_staff_id, actor_api_key_id, action,
                           subject_type, subject_id, ip, detail, prev_hash, hash, key_id, mac)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14)
    RETURNING id)
INSERT INTO audit_heads (school_id, seq, hash) VALUES ($1, $2, $12)
ON CONFLICT (school_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash
RETURNING (SELECT id FROM entry)"""


async def _append(
    conn: Connection,
    school_id: uuid.UUID | None,
    actor_staff_id: uuid.UUID | None,
    actor_api_key_id: uuid.UUID | None,
    entry: dict[str, Any],
) -> int:
    """Two round trips: lock and read the head, then the entry and the new head together."""
    head = await conn.fetchrow(_HEAD, school_id)
    if head is None:
        # A chain's first entry has no head row to lock: first appends queue on an advisory
        # lock instead, then lock the head one of them may have committed meanwhile.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, '')))",
            _LOCK_CLASS,
            entry["school_id"],
        )
        head = await conn.fetchrow(_HEAD, school_id)
    seq, prev = (head["seq"] + 1, bytes(head["hash"])) if head else (1, GENESIS)
    digest = entry_hash(prev, {**entry, "seq": seq})
    key_id, mac = _signature(digest)
    entry_id: int = await conn.fetchval(
        _APPEND,
        school_id,
        seq,
        datetime.fromisoformat(entry["at"]),
        actor_staff_id,
        actor_api_key_id,
        entry["action"],
        entry["subject_type"],
        entry["subject_id"],
        entry["ip"],
        canonical(entry["detail"]),
        prev,
        digest,
        key_id,
        mac,
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


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head as a witness was given it: entry `seq` had `hash` at time `at`."""

    school_id: uuid.UUID | None
    seq: int
    hash: bytes
    at: str

    def line(self, keys: AuditKeys) -> str:
        body = self._body(keys.signing_id)
        _, mac = keys.sign(_CHECKPOINT, canonical(body).encode())
        return canonical({**body, "mac": mac.hex()})

    def _body(self, key_id: str) -> dict[str, Any]:
        return {
            "school_id": _text(self.school_id),
            "seq": self.seq,
            "hash": self.hash.hex(),
            "at": self.at,
            "key_id": key_id,
        }

    @classmethod
    def parse(cls, line: str, keys: AuditKeys) -> Checkpoint | None:
        """The checkpoint a line holds; None unless a key this verifier holds signed it."""
        try:
            raw = json.loads(line)
            found = cls(
                None if raw["school_id"] is None else uuid.UUID(raw["school_id"]),
                int(raw["seq"]),
                bytes.fromhex(raw["hash"]),
                str(raw["at"]),
            )
            body = canonical(found._body(str(raw["key_id"]))).encode()
            mac = keys.mac(str(raw["key_id"]), _CHECKPOINT, body)
            given = bytes.fromhex(raw["mac"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return found if mac is not None and hmac.compare_digest(mac, given) else None


def read_checkpoints(
    lines: Iterable[str], keys: AuditKeys
) -> tuple[dict[uuid.UUID | None, Checkpoint], list[AuditProblem]]:
    """The latest checkpoint of each chain (the last line naming it), and a problem for each
    line no held key signed (an edited or forged witness file)."""
    latest: dict[uuid.UUID | None, Checkpoint] = {}
    problems: list[AuditProblem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        found = Checkpoint.parse(line, keys)
        if found is None:
            problems.append(
                AuditProblem(
                    None,
                    0,
                    "checkpoint",
                    f"checkpoint line {number} is not signed by a known audit key: "
                    "edited or forged",
                )
            )
        else:
            latest[found.school_id] = found
    return latest, problems


async def checkpoint(conn: Connection, keys: AuditKeys) -> tuple[list[str], list[AuditProblem]]:
    """A signed line for each chain's head, or the problems that stop one being signed (a head
    that is not the newest entry, or whose MAC does not match, is not vouched for)."""
    lines: list[str] = []
    problems: list[AuditProblem] = []
    now = datetime.now(UTC).isoformat()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for head in await conn.fetch(
            """SELECT h.school_id, h.seq, h.hash, l.hash AS row_hash, l.key_id, l.mac
               FROM audit_heads h LEFT JOIN audit_log l
                 ON l.school_id IS NOT DISTINCT FROM h.school_id AND l.seq = h.seq
               ORDER BY h.school_id NULLS FIRST"""
        ):
            school, seq = head["school_id"], head["seq"]
            if head["row_hash"] is None or bytes(head["row_hash"]) != bytes(head["hash"]):
                problems.append(
                    AuditProblem(school, seq, "truncated", "the head's entry is not in the log")
                )
                continue
            problems.extend(_check_mac(head, keys, keyed_since=None))
            lines.append(Checkpoint(school, seq, bytes(head["hash"]), now).line(keys))
    return lines, problems


async def verify(
    conn: Connection,
    school_id: uuid.UUID | None = None,
    keys: AuditKeys | None = None,
    checkpoints: Mapping[uuid.UUID | None, Checkpoint] | None = None,
) -> list[AuditProblem]:
    """Every problem found in one school's chain, or in every chain when school_id is None.
    With `keys`, every entry's MAC is checked too; with `checkpoints`, every chain must still
    hold the head its checkpoint signed."""
    signed = dict(checkpoints or {})
    chains: list[uuid.UUID | None]
    if school_id is not None:
        chains = [school_id]
    else:
        chains = [
            r["school_id"]
            for r in await conn.fetch(
                "SELECT school_id FROM audit_log UNION SELECT school_id FROM audit_heads"
            )
        ]
        chains += [c for c in signed if c not in chains]
    problems: list[AuditProblem] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for chain in chains:
            problems.extend(await _verify_chain(conn, chain, keys, signed.get(chain)))
    return problems


async def _verify_chain(
    conn: Connection,
    school_id: uuid.UUID | None,
    keys: AuditKeys | None,
    signed: Checkpoint | None,
) -> list[AuditProblem]:
    problems: list[AuditProblem] = []
    last_seq, last_hash = 0, GENESIS
    keyed_since: int | None = None  # the chain's first entry with a MAC
    signed_hash: bytes | None = None  # what the chain holds at the checkpoint's seq
    async for row in conn.cursor(
        """SELECT * FROM audit_log WHERE school_id IS NOT DISTINCT FROM $1
               ORDER BY seq""",
        school_id,
    ):
        problems.extend(_check_row(row, last_seq, last_hash))
        if keys is not None:
            problems.extend(_check_mac(row, keys, keyed_since))
        if keyed_since is None and row["mac"] is not None:
            keyed_since = row["seq"]
        if signed is not None and row["seq"] == signed.seq:
            signed_hash = bytes(row["hash"])
        last_seq, last_hash = row["seq"], bytes(row["hash"])
    problems.extend(await _check_head(conn, school_id, last_seq, last_hash))
    if signed is not None and signed_hash != signed.hash:
        problems.append(_lost_checkpoint(signed, last_seq, signed_hash))
    return problems


async def _check_head(
    conn: Connection, school_id: uuid.UUID | None, last_seq: int, last_hash: bytes
) -> list[AuditProblem]:
    head = await conn.fetchrow(
        "SELECT seq, hash FROM audit_heads WHERE school_id IS NOT DISTINCT FROM $1", school_id
    )
    if head is None and last_seq:
        return [AuditProblem(school_id, last_seq, "truncated", "the chain head is gone")]
    if head is not None and (head["seq"] != last_seq or bytes(head["hash"]) != last_hash):
        return [
            AuditProblem(
                school_id,
                head["seq"],
                "truncated",
                f"the head is entry {head['seq']} but the newest row is "
                f"{last_seq}: newest entries deleted or replaced",
            )
        ]
    return []


def _lost_checkpoint(signed: Checkpoint, last_seq: int, found: bytes | None) -> AuditProblem:
    if found is None and last_seq < signed.seq:
        detail = (
            f"the checkpoint of {signed.at} signed entry {signed.seq}, but the chain ends at "
            f"entry {last_seq}: entries were deleted since"
        )
    else:
        detail = (
            f"the checkpoint of {signed.at} signed entry {signed.seq} with another hash: "
            "entries were deleted and the rest re-hashed, or replaced"
        )
    return AuditProblem(signed.school_id, signed.seq, "checkpoint", detail)


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


def _check_mac(row: asyncpg.Record, keys: AuditKeys, keyed_since: int | None) -> list[AuditProblem]:
    """Entries from before keys existed have no MAC; one without, after a keyed one, lost it."""
    school, seq = row["school_id"], row["seq"]
    if row["mac"] is None:
        if keyed_since is None:
            return []
        detail = (
            f"no MAC, though entry {keyed_since} of this chain has one: the MAC was stripped, "
            "or a process without the audit key wrote it"
        )
        return [AuditProblem(school, seq, "unkeyed", detail)]
    expected = keys.mac(row["key_id"], _ENTRY, bytes(row["hash"]))
    if expected is None:
        detail = f"signed with key {row['key_id']!r}, which this verifier does not hold"
        return [AuditProblem(school, seq, "unknown_key", detail)]
    if not hmac.compare_digest(expected, bytes(row["mac"])):
        detail = "the entry's MAC does not match: re-hashed or forged without the audit key"
        return [AuditProblem(school, seq, "bad_mac", detail)]
    return []


async def verify_audit_cli(
    database_url: str, keys: AuditKeys | None = None, checkpoint_lines: Iterable[str] = ()
) -> int:
    """`beacon admin verify-audit`: prints each problem; exit status 0 when the log is intact.
    `checkpoint_lines`: a witness's file from `beacon admin audit-checkpoint`."""
    problems: list[AuditProblem] = []
    signed: dict[uuid.UUID | None, Checkpoint] = {}
    if keys is not None:
        signed, problems = read_checkpoints(checkpoint_lines, keys)
    conn = await asyncpg.connect(database_url)
    try:
        problems += await verify(conn, keys=keys, checkpoints=signed)
        count = await conn.fetchval("SELECT count(*) FROM audit_log")
    finally:
        await conn.close()
    for p in problems:
        print(p, file=sys.stderr)
    print(f"audit log: {count} entries, {len(problems)} problems")
    if keys is None:
        print(
            "warning: MACs not checked (no BEACON_AUDIT_KEY or BEACON_SECRET_KEY): entries "
            "deleted and re-hashed by the database's owner would pass",
            file=sys.stderr,
        )
    else:
        print(f"MACs checked with key ids {', '.join(sorted(keys.keys))}")
        print(f"{len(signed)} chains checked against their latest checkpoint")
    return 1 if problems else 0


async def checkpoint_cli(database_url: str, keys: AuditKeys) -> tuple[int, list[str]]:
    """`beacon admin audit-checkpoint`: (exit status, the lines to hand the witness)."""
    conn = await asyncpg.connect(database_url)
    try:
        lines, problems = await checkpoint(conn, keys)
    finally:
        await conn.close()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("audit checkpoint: not written: verify-audit first", file=sys.stderr)
        return 1, []
    return 0, lines
