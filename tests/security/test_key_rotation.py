"""BEACON_SECRET_KEY can be rotated: a leaked or departing key is replaced without losing
anyone's authenticator.

BEACON_SECRET_KEY (B) seals, BEACON_OLD_SECRET_KEYS (A) still open; every new ciphertext names
its key (version 2: an 8-byte fingerprint), the old format (version 1, no key id) still opens;
`beacon admin reencrypt-secrets` moves every device to B, after which A can be dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.ingest.main import create_app as create_ingest
from shared.auth import totp
from shared.auth.state import AuthConfig
from shared.config import Settings
from tests.conftest import SECRET_KEY
from tests.security.conftest import EMAILS, World
from tests.staff.client import Browser
from tests.support.processes import service_env
from tests.support.world import seed_school

KEY_A = SECRET_KEY  # the world's apps seal under it
KEY_B = "rotated-secret-key-for-authenticators-0123456789"
KEY_C = "some-other-deployment-key-0123456789-0123456789"
NOW = 1_800_000_000.0
BEACON = str(Path(sys.executable).with_name("beacon"))


def box(current: str, *old: str) -> totp.SecretBox:
    return totp.SecretBox(totp.derive_key(current), [totp.derive_key(k) for k in old])


def sealed_v1(key: str, secret: str, school: uuid.UUID, staff: uuid.UUID) -> bytes:
    """A ciphertext as Beacon wrote them before key ids (version 1)."""
    nonce = os.urandom(12)
    aead = AESGCM(totp.derive_key(key))
    return b"\x01" + nonce + aead.encrypt(nonce, secret.encode(), f"{school}:{staff}".encode())


def reencrypt(database_url: str, current: str, old: str = "", batch: int = 500):
    env = {
        "DATABASE_URL": database_url,
        "BEACON_SECRET_KEY": current,
        "BEACON_OLD_SECRET_KEYS": old,
    }
    done = subprocess.run(
        [BEACON, "admin", "reencrypt-secrets", "--batch", str(batch)],
        env=service_env(env),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout), done.stderr.decode()


# --- The box ---------------------------------------------------------------------------------


def test_new_ciphertexts_name_their_key_and_old_keys_only_open():
    school, staff = uuid.uuid4(), uuid.uuid4()
    a, rotated = box(KEY_A), box(KEY_B, KEY_A)
    under_a = a.seal("JBSWY3DPEHPK3PXP", school, staff)
    assert under_a[:1] == b"\x02" and under_a[1:9] == a.key_id != rotated.key_id
    assert rotated.open(under_a, school, staff) == "JBSWY3DPEHPK3PXP"
    assert not rotated.is_current(under_a) and a.is_current(under_a)
    under_b = rotated.seal("JBSWY3DPEHPK3PXP", school, staff)
    assert under_b[1:9] == rotated.key_id  # the old key never seals
    with pytest.raises(totp.UnknownKey):
        a.open(under_b, school, staff)
    # The key id is bound: re-labelling a ciphertext with another key's id does not open it.
    relabelled = under_b[:1] + a.key_id + under_b[9:]
    with pytest.raises(InvalidTag):
        box(KEY_A, KEY_B).open(relabelled, school, staff)


def test_version_1_ciphertexts_still_open_under_current_or_old_keys():
    school, staff = uuid.uuid4(), uuid.uuid4()
    old = sealed_v1(KEY_A, "JBSWY3DPEHPK3PXP", school, staff)
    assert box(KEY_A).open(old, school, staff) == "JBSWY3DPEHPK3PXP"
    assert box(KEY_B, KEY_C, KEY_A).open(old, school, staff) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        box(KEY_B, KEY_C).open(old, school, staff)
    with pytest.raises(InvalidTag):  # still bound to its row
        box(KEY_A).open(old, school, uuid.uuid4())


def test_old_keys_come_from_settings(env):
    settings = Settings.from_env({**env, "BEACON_OLD_SECRET_KEYS": f" {KEY_B} , {KEY_C} ,"})
    assert settings.old_secret_keys == (KEY_B, KEY_C)
    config = AuthConfig.from_settings(settings)
    assert config.old_secret_keys == (totp.derive_key(KEY_B), totp.derive_key(KEY_C))
    with pytest.raises(ValueError, match="BEACON_OLD_SECRET_KEYS"):
        Settings.from_env({**env, "BEACON_OLD_SECRET_KEYS": "short"})


# --- A device through the rotation -----------------------------------------------------------


async def test_a_device_enrolled_under_a_survives_rotation_to_b_and_a_can_then_go(pg, database_url):
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        staff = school.staff["S04"]
        enrol = await totp.start_enrolment(conn, box(KEY_A), school.id, staff)
        code = totp.code_at(enrol.secret, totp.current_step(NOW))
        assert await totp.confirm_enrolment(conn, box(KEY_A), school.id, staff, code, "phone", NOW)

    async def use(b: totp.SecretBox, step: int) -> bool:
        async with pg.acquire() as conn:
            await conn.execute("UPDATE totp_devices SET last_used_step = NULL")  # reuse a step
            code = totp.code_at(enrol.secret, totp.current_step(NOW) + step)
            return await totp.use_code(conn, b, school.id, staff, code, NOW) is not None

    assert await use(box(KEY_B, KEY_A), 1)  # rotated, A listed as old
    assert not await use(box(KEY_B), 1)  # A dropped too early: refused, not a crash

    status, counts, _ = reencrypt(database_url, KEY_B, KEY_A)
    assert status == 0
    assert counts == {"devices": 1, "reencrypted": 1, "current": 0, "unreadable": 0}
    assert await use(box(KEY_B), 1)  # A can go
    assert not await use(box(KEY_A), 1)

    status, counts, _ = reencrypt(database_url, KEY_B, KEY_A)  # idempotent
    assert (status, counts["reencrypted"], counts["current"]) == (0, 0, 1)


async def test_reencrypt_goes_in_batches_and_reports_what_it_could_not_open(pg, database_url):
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        rows = []
        for i, ext in enumerate(["S01", "S02", "S03", "S04", "S05", "S06", "S07"]):
            staff = school.staff[ext]
            secret = totp.new_secret()
            sealed = {
                0: sealed_v1(KEY_A, secret, school.id, staff),  # before key ids
                1: box(KEY_A).seal(secret, school.id, staff),
                2: box(KEY_B).seal(secret, school.id, staff),  # already current
                3: box(KEY_C).seal(secret, school.id, staff),  # no key given opens it
            }[i % 4]
            removed = "now()" if i == 5 else "NULL"  # removed devices are moved too
            await conn.execute(
                f"""INSERT INTO totp_devices (school_id, staff_id, secret, removed_at)
                    VALUES ($1, $2, $3, {removed})""",  # noqa: S608 (a constant)
                school.id,
                staff,
                sealed,
            )
            rows.append((staff, secret))

    status, counts, stderr = reencrypt(database_url, KEY_B, KEY_A, batch=2)
    assert counts == {"devices": 7, "reencrypted": 4, "current": 2, "unreadable": 1}
    assert status == 1 and "keep the old key" in stderr

    b_only = box(KEY_B)
    async with pg.acquire() as conn:
        stored = await conn.fetch("SELECT staff_id, secret FROM totp_devices")
    by_staff = {r["staff_id"]: bytes(r["secret"]) for r in stored}
    for i, (staff, secret) in enumerate(rows):
        if i % 4 == 3:
            assert by_staff[staff][1:9] == box(KEY_C).key_id  # left exactly as it was
        else:
            assert b_only.is_current(by_staff[staff])
            assert b_only.open(by_staff[staff], school.id, staff) == secret


# --- Through the real app --------------------------------------------------------------------


async def test_elevation_through_ingest_after_rotation(
    world: World, security_settings: Settings, database_url: str
) -> None:
    dsl = await world.browser("S04")  # the world's apps seal under A
    r = await dsl.request("POST", "/v1/me/totp")
    secret = (await r.json())["secret"]
    confirm = {"code": totp.code_at(secret, totp.current_step())}
    assert (await dsl.request("POST", "/v1/me/totp/confirm", confirm)).status == 204

    async def elevate_with(secret_key: str, *old: str) -> int:
        await world.pg.execute("UPDATE totp_devices SET last_used_step = NULL")  # reuse a step
        settings = dataclasses.replace(
            security_settings, secret_key=secret_key, old_secret_keys=old
        )
        async with TestClient(TestServer(create_ingest(settings))) as ingest:
            b = Browser(ingest)
            signed_in = await b.login(EMAILS["S04"], world.home.password or "")
            assert signed_in.status == 201
            code = {"code": totp.code_at(secret, totp.current_step() + 1)}
            return (await b.request("POST", "/v1/session/elevate", code)).status

    assert await elevate_with(KEY_B, KEY_A) == 200
    assert await elevate_with(KEY_B) not in (200, 500)  # A dropped before re-encrypting
    assert reencrypt(database_url, KEY_B, KEY_A)[0] == 0
    assert await elevate_with(KEY_B) == 200
