"""Authenticator devices (TOTP: 6 digits, 30 s steps, one step of drift either way).

Secrets are encrypted at rest with AES-GCM under a key derived from BEACON_SECRET_KEY, with
the school and staff ids as associated data so a ciphertext copied to another row is refused.
Each ciphertext names its key (version 2: an 8-byte fingerprint of the derived key), so the
key can be rotated: BEACON_SECRET_KEY encrypts, BEACON_OLD_SECRET_KEYS still decrypt, and
`beacon admin reencrypt-secrets` (reencrypt_all) moves every device to the current key, after
which the old ones can be dropped. Version 1 (no key id, from before) is tried under each key.
A code is single-use: its time step must be newer than the device's `last_used_step`, moved
forward by a guarded UPDATE so two concurrent uses of one code cannot both succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import pyotp
import segno
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.database import Connection

ISSUER = "Beacon"
STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
PENDING_SECONDS = 15 * 60  # an unconfirmed enrolment expires
_V1 = b"\x01"  # nonce (12) + ciphertext; no key id: tried under every key
_V2 = b"\x02"  # key id (8) + nonce (12) + ciphertext; the header is associated data too
KEY_ID_BYTES = 8
NONCE_BYTES = 12

log = structlog.get_logger(__name__)


def derive_key(secret_key: str) -> bytes:
    """Settings.secret_key (BEACON_SECRET_KEY, checked there: 32+ characters) stretched to a
    256-bit AES key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"beacon totp secrets v1"
    ).derive(secret_key.encode())


def key_id(key: bytes) -> bytes:
    """Names a derived key inside ciphertexts without revealing anything about it."""
    return hmac.new(key, b"beacon totp key id", hashlib.sha256).digest()[:KEY_ID_BYTES]


class UnknownKey(InvalidTag):
    """Sealed under a key this box does not hold (an old key dropped too early)."""


class SecretBox:
    """Seals under `key`; opens what `key` or any of `old_keys` sealed (derived keys)."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self.key_id = key_id(key)
        self._aead = AESGCM(key)
        self._keys = {key_id(k): AESGCM(k) for k in reversed(old_keys)}
        self._keys[self.key_id] = self._aead
        # For version 1, which names no key: the current key first, then the old in order.
        self._in_order = [self._aead, *(AESGCM(k) for k in old_keys)]

    def seal(self, secret: str, school_id: uuid.UUID, staff_id: uuid.UUID) -> bytes:
        header = _V2 + self.key_id
        nonce = os.urandom(NONCE_BYTES)
        bound = header + _bound(school_id, staff_id)
        return header + nonce + self._aead.encrypt(nonce, secret.encode(), bound)

    def open(self, sealed: bytes, school_id: uuid.UUID, staff_id: uuid.UUID) -> str:
        """The secret; InvalidTag when no key of this box opens it (UnknownKey when it names a
        key the box lacks), ValueError for a format it does not know."""
        bound = _bound(school_id, staff_id)
        if sealed[:1] == _V2:
            header, rest = sealed[: 1 + KEY_ID_BYTES], sealed[1 + KEY_ID_BYTES :]
            aead = self._keys.get(header[1:])
            if aead is None:
                raise UnknownKey(f"sealed under key id {header[1:].hex()}, not held")
            return aead.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], header + bound).decode()
        if sealed[:1] == _V1:
            nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
            for candidate in self._in_order:
                try:
                    return candidate.decrypt(nonce, body, bound).decode()
                except InvalidTag:
                    continue
            raise InvalidTag
        raise ValueError("unknown secret format")

    def is_current(self, sealed: bytes) -> bool:
        """Sealed in the current format under the current key (nothing to re-encrypt)."""
        return sealed[:1] == _V2 and sealed[1 : 1 + KEY_ID_BYTES] == self.key_id

    def try_open(
        self, sealed: bytes, school_id: uuid.UUID, staff_id: uuid.UUID, device_id: uuid.UUID
    ) -> str | None:
        """The secret, or None (logged) when no key held opens it: that device then accepts
        no code, rather than failing the whole sign-in."""
        try:
            return self.open(sealed, school_id, staff_id)
        except (InvalidTag, ValueError) as e:
            log.warning("totp_secret_unreadable", device_id=str(device_id), error=repr(e))
            return None


def _bound(school_id: uuid.UUID, staff_id: uuid.UUID) -> bytes:
    return f"{school_id}:{staff_id}".encode()


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """A standalone SVG document (with its namespace, so it also works as an <img> source)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=4, xmldecl=False, nl=False, title="Authenticator QR code"
    )
    return out.getvalue().decode()


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (within the allowed drift) whose code is `code`, else None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    step = current_step(now)
    found = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        # No early exit: the time taken does not depend on which step matched.
        if hmac.compare_digest(code_at(secret, candidate), code):
            found = candidate
    return found


@dataclass(frozen=True, slots=True)
class Enrolment:
    device_id: uuid.UUID
    secret: str


async def start_enrolment(
    conn: Connection, box: SecretBox, school_id: uuid.UUID, staff_id: uuid.UUID
) -> Enrolment:
    """A new pending device; any earlier pending one is withdrawn."""
    await conn.execute(
        """UPDATE totp_devices SET removed_at = now()
           WHERE staff_id = $1 AND confirmed_at IS NULL AND removed_at IS NULL""",
        staff_id,
    )
    secret = new_secret()
    device_id = await conn.fetchval(
        """INSERT INTO totp_devices (school_id, staff_id, secret) VALUES ($1, $2, $3)
           RETURNING id""",
        school_id,
        staff_id,
        box.seal(secret, school_id, staff_id),
    )
    return Enrolment(device_id, secret)


async def confirm_enrolment(
    conn: Connection,
    box: SecretBox,
    school_id: uuid.UUID,
    staff_id: uuid.UUID,
    code: str,
    name: str,
    now: float | None = None,
) -> uuid.UUID | None:
    """Confirms the pending device when `code` is right; the code's step is used up."""
    row = await conn.fetchrow(
        """SELECT id, secret FROM totp_devices
           WHERE school_id = $1 AND staff_id = $2 AND confirmed_at IS NULL
             AND removed_at IS NULL AND created_at > now() - make_interval(secs => $3)
           ORDER BY created_at DESC LIMIT 1""",
        school_id,
        staff_id,
        PENDING_SECONDS,
    )
    if row is None:
        return None
    secret = box.try_open(row["secret"], school_id, staff_id, row["id"])
    step = None if secret is None else matching_step(secret, code, now)
    if step is None:
        return None
    device_id: uuid.UUID | None = await conn.fetchval(
        """UPDATE totp_devices SET confirmed_at = now(), name = $2, last_used_step = $3,
                  last_used_at = now()
           WHERE id = $1 AND confirmed_at IS NULL AND removed_at IS NULL RETURNING id""",
        row["id"],
        name,
        step,
    )
    return device_id


async def use_code(
    conn: Connection,
    box: SecretBox,
    school_id: uuid.UUID,
    staff_id: uuid.UUID,
    code: str,
    now: float | None = None,
) -> uuid.UUID | None:
    """The device that accepted `code`, or None (wrong, expired, or already used)."""
    devices = await conn.fetch(
        """SELECT id, secret FROM totp_devices WHERE school_id = $1 AND staff_id = $2
           AND confirmed_at IS NOT NULL AND removed_at IS NULL""",
        school_id,
        staff_id,
    )
    for device in devices:
        secret = box.try_open(device["secret"], school_id, staff_id, device["id"])
        step = None if secret is None else matching_step(secret, code, now)
        if step is None:
            continue
        used = await conn.fetchval(
            """UPDATE totp_devices SET last_used_step = $2, last_used_at = now()
               WHERE id = $1 AND removed_at IS NULL
                 AND (last_used_step IS NULL OR last_used_step < $2) RETURNING id""",
            device["id"],
            step,
        )
        if used is not None:
            return used  # type: ignore[no-any-return]
    return None


async def has_device(conn: Connection, staff_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM totp_devices WHERE staff_id = $1
           AND confirmed_at IS NOT NULL AND removed_at IS NULL)""",
            staff_id,
        )
    )


async def list_devices(conn: Connection, staff_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, name, confirmed_at, last_used_at FROM totp_devices
           WHERE staff_id = $1 AND confirmed_at IS NOT NULL AND removed_at IS NULL
           ORDER BY confirmed_at""",
        staff_id,
    )


async def remove_device(
    conn: Connection, school_id: uuid.UUID, staff_id: uuid.UUID, device_id: uuid.UUID
) -> bool:
    return (
        await conn.fetchval(
            """UPDATE totp_devices SET removed_at = now() WHERE id = $1 AND school_id = $2
           AND staff_id = $3 AND removed_at IS NULL RETURNING true""",
            device_id,
            school_id,
            staff_id,
        )
        is not None
    )


@dataclass(frozen=True, slots=True)
class Reencrypted:
    devices: int = 0  # every device row looked at (removed and pending ones too)
    reencrypted: int = 0  # moved to the current key
    current: int = 0  # already under the current key: nothing to do
    unreadable: int = 0  # no key held opens it: keep the old key until this is 0
    unreadable_ids: tuple[uuid.UUID, ...] = ()

    def as_dict(self) -> dict[str, int]:
        return {
            "devices": self.devices,
            "reencrypted": self.reencrypted,
            "current": self.current,
            "unreadable": self.unreadable,
        }


_BATCH = """SELECT id, school_id, staff_id, secret FROM totp_devices
WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2"""
# Guarded by the old ciphertext: a device re-enrolled meanwhile is left as it now is.
_RESEAL = "UPDATE totp_devices SET secret = $2 WHERE id = $1 AND secret = $3"


async def reencrypt_all(conn: Connection, box: SecretBox, batch_size: int = 500) -> Reencrypted:
    """Re-seals every totp_devices.secret under the box's current key, `batch_size` rows per
    transaction (short row locks; a rerun after a crash carries on). Idempotent: a row already
    under the current key is only counted."""
    counts = Reencrypted()
    after: uuid.UUID | None = None
    while True:
        async with conn.transaction():
            rows = await conn.fetch(_BATCH, after, batch_size)
            done = reencrypted = current = 0
            unreadable: list[uuid.UUID] = []
            for row in rows:
                done += 1
                if box.is_current(row["secret"]):
                    current += 1
                    continue
                try:
                    secret = box.open(row["secret"], row["school_id"], row["staff_id"])
                except (InvalidTag, ValueError):
                    unreadable.append(row["id"])
                    continue
                sealed = box.seal(secret, row["school_id"], row["staff_id"])
                status = await conn.execute(_RESEAL, row["id"], sealed, row["secret"])
                reencrypted += status == "UPDATE 1"
        counts = Reencrypted(
            counts.devices + done,
            counts.reencrypted + reencrypted,
            counts.current + current,
            counts.unreadable + len(unreadable),
            (*counts.unreadable_ids, *unreadable),
        )
        if len(rows) < batch_size:
            return counts
        after = rows[-1]["id"]
