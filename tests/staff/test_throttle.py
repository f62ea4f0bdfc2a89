"""Login throttling: exponential, capped, and it always lets the real user back in."""

import pytest
from arq.connections import RedisSettings, create_pool

from shared.auth.throttle import LIMITS, Limit, LoginThrottle, lock_seconds
from tests.support.until import until


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (3, 0), (4, 1), (5, 2), (6, 4), (10, 64), (13, 512), (14, 900), (10_000, 900)],
)
def test_lock_grows_exponentially_to_a_cap(failures, seconds):
    assert lock_seconds(LIMITS[0], failures) == seconds


def test_the_account_wide_lock_is_short_so_nobody_can_shut_a_user_out():
    account = next(lim for lim in LIMITS if lim.name == "account")
    assert lock_seconds(account, 10_000) <= 60


@pytest.fixture
async def redis(redis_url):
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    yield pool
    await pool.aclose()


async def test_a_lock_expires_by_itself(redis):
    fast = (Limit("account-address", free=2, base_seconds=0.3, cap_seconds=0.3),)
    throttle = LoginThrottle(redis, fast)
    for _ in range(3):
        await throttle.failed("finn@school.example", "192.0.2.1")
    assert await throttle.retry_after("FINN@school.example", "192.0.2.1") >= 1
    assert await throttle.retry_after("finn@school.example", "192.0.2.2") == 0
    await until(lambda: _free(throttle), 3)


async def _free(throttle):
    return await throttle.retry_after("finn@school.example", "192.0.2.1") == 0


async def test_success_clears_the_account_but_not_the_address(redis):
    throttle = LoginThrottle(redis)
    address = next(lim for lim in LIMITS if lim.name == "address")
    for i in range(address.free + 2):  # past the address's allowance, from two accounts
        await throttle.failed(f"user{i % 2}@school.example", "192.0.2.9")
    assert await throttle.retry_after("someone-else@school.example", "192.0.2.9") > 0
    await throttle.succeeded("user0@school.example", "192.0.2.9")
    assert await throttle.retry_after("user0@school.example", "192.0.2.10") == 0
    assert await throttle.retry_after("user0@school.example", "192.0.2.9") > 0  # address lock
