"""Authenticator devices (TOTP: 6 digits, 30 s steps, one step of drift either way).

Secrets are encrypted at rest with AES-GCM under a key derived from BEACON_SECRET_KEY, with
the school and staff ids as associated data so a ciphertext copied to another row is refused.
A code is single-use: its time step must be newer than the device's `last_used_step`, moved
forward by a guarded UPDATE so two concurrent uses of one code cannot both succeed.
"""

from __future__ import annotations

import hmac
import io
import os
import time
import uuid
from dataclasses import dataclass

import asyncpg
import pyotp
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.database import Connection

ISSUER = "Beacon"
STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
PENDING_SECONDS = 15 * 60  # an unconfirmed enrolment expires
_VERSION = b"\x01"


def derive_key(secret_key: str) -> bytes:
    """Settings.secret_key (BEACON_SECRET_KEY, checked there: 32+ characters) stretched to a
    256-bit AES key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"beacon totp secrets v1"
    ).derive(secret_key.encode())


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str, school_id: uuid.UUID, staff_id: uuid.UUID) -> bytes:
        nonce = os.urandom(12)
        return (
            _VERSION
            + nonce
            + self._aead.encrypt(nonce, secret.encode(), _bound(school_id, staff_id))
        )

    def open(self, sealed: bytes, school_id: uuid.UUID, staff_id: uuid.UUID) -> str:
        if sealed[:1] != _VERSION:
            raise ValueError("unknown secret format")
        nonce, body = sealed[1:13], sealed[13:]
        return self._aead.decrypt(nonce, body, _bound(school_id, staff_id)).decode()


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
    step = matching_step(box.open(row["secret"], school_id, staff_id), code, now)
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
        step = matching_step(box.open(device["secret"], school_id, staff_id), code, now)
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
