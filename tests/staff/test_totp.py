"""Authenticator devices: enrolment, drift, single use, encryption at rest."""

import asyncio

import pytest
from cryptography.exceptions import InvalidTag

from shared.auth import totp
from shared.auth.state import AuthConfig
from shared.config import ConfigError, Settings
from tests.support.world import seed_school

KEY = "k" * 40
NOW = 1_800_000_000.0  # a fixed instant: step 60,000,000


@pytest.fixture
def box():
    return totp.SecretBox(totp.derive_key(KEY))


def test_secret_key_is_required_and_long(env):
    without = {k: v for k, v in env.items() if k != "BEACON_SECRET_KEY"}
    with pytest.raises(ConfigError, match="BEACON_SECRET_KEY"):
        Settings.from_env(without)
    with pytest.raises(ConfigError, match="BEACON_SECRET_KEY.*32"):
        Settings.from_env({**env, "BEACON_SECRET_KEY": "x" * 31})
    settings = Settings.from_env({**env, "BEACON_SECRET_KEY": KEY})
    assert AuthConfig.from_settings(settings).secret_key == totp.derive_key(KEY)
    assert len(totp.derive_key(KEY)) == 32 and totp.derive_key(KEY) != totp.derive_key("z" * 40)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("", 600), ("1", 1), ("86400", 86400), ("0", None), ("86401", None), ("ten", None)],
)
def test_session_idle_seconds_from_settings(env, raw, ok):
    given = {**env, "BEACON_SESSION_IDLE_SECONDS": raw}
    if ok is None:
        with pytest.raises(ConfigError, match="BEACON_SESSION_IDLE_SECONDS"):
            Settings.from_env(given)
    else:
        settings = Settings.from_env(given)
        assert AuthConfig.from_settings(settings).session_idle_seconds == ok


def test_sealed_secret_is_bound_to_its_owner(box):
    import uuid

    school, staff, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sealed = box.seal("JBSWY3DPEHPK3PXP", school, staff)
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed, school, staff) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        box.open(sealed, school, other)
    wrong_key = totp.SecretBox(totp.derive_key("z" * 40))
    with pytest.raises(InvalidTag):
        wrong_key.open(sealed, school, staff)


def test_codes_match_within_one_step_of_drift():
    secret = totp.new_secret()
    step = totp.current_step(NOW)
    for offset, expected in [(-2, None), (-1, step - 1), (0, step), (1, step + 1), (2, None)]:
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), NOW) == expected
    for bad in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"]:
        assert totp.matching_step(secret, bad, NOW) is None


def test_provisioning_uri_and_qr():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "finn.teacher@school.example")
    assert uri.startswith("otpauth://totp/Beacon:finn.teacher%40school.example?")
    assert "issuer=Beacon" in uri and "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert svg.rstrip().endswith("</svg>")


async def _enrolled(pg, box):
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        staff = school.staff["S04"]
        enrol = await totp.start_enrolment(conn, box, school.id, staff)
        code = totp.code_at(enrol.secret, totp.current_step(NOW))
        device = await totp.confirm_enrolment(conn, box, school.id, staff, code, "phone", NOW)
        assert device == enrol.device_id
    return school, staff, enrol.secret


async def test_enrolment_needs_the_right_code_and_stores_the_secret_encrypted(pg, box):
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        staff = school.staff["S06"]
        enrol = await totp.start_enrolment(conn, box, school.id, staff)
        assert not await totp.confirm_enrolment(conn, box, school.id, staff, "000000", "x", NOW)
        assert not await totp.has_device(conn, staff)
        stored = await conn.fetchval(
            "SELECT secret FROM totp_devices WHERE id = $1", enrol.device_id
        )
        assert enrol.secret.encode() not in stored
        code = totp.code_at(enrol.secret, totp.current_step(NOW))
        assert await totp.confirm_enrolment(conn, box, school.id, staff, code, "phone", NOW)
        assert await totp.has_device(conn, staff)
        assert [d["name"] for d in await totp.list_devices(conn, staff)] == ["phone"]


async def test_a_code_cannot_be_used_twice_nor_an_older_one_after_it(pg, box):
    school, staff, secret = await _enrolled(pg, box)
    step = totp.current_step(NOW)
    async with pg.acquire() as conn:
        # The confirming code's step is used up already.
        assert (
            await totp.use_code(conn, box, school.id, staff, totp.code_at(secret, step), NOW)
            is None
        )
        nxt = totp.code_at(secret, step + 1)
        assert await totp.use_code(conn, box, school.id, staff, nxt, NOW) is not None
        assert await totp.use_code(conn, box, school.id, staff, nxt, NOW) is None
        later = NOW + totp.STEP_SECONDS * 2
        assert (
            await totp.use_code(conn, box, school.id, staff, totp.code_at(secret, step + 2), later)
            is not None
        )


async def test_concurrent_uses_of_one_code_succeed_once(pg, box):
    school, staff, secret = await _enrolled(pg, box)
    code = totp.code_at(secret, totp.current_step(NOW) + 1)

    async def attempt():
        async with pg.acquire() as conn:
            return await totp.use_code(conn, box, school.id, staff, code, NOW)

    results = await asyncio.gather(*(attempt() for _ in range(5)))
    assert sum(r is not None for r in results) == 1


async def test_removed_device_no_longer_accepts_codes(pg, box):
    school, staff, secret = await _enrolled(pg, box)
    async with pg.acquire() as conn:
        (device,) = await totp.list_devices(conn, staff)
        assert not await totp.remove_device(conn, school.id, school.staff["S06"], device["id"])
        assert await totp.remove_device(conn, school.id, staff, device["id"])
        code = totp.code_at(secret, totp.current_step(NOW) + 1)
        assert await totp.use_code(conn, box, school.id, staff, code, NOW) is None
        assert not await totp.has_device(conn, staff)
