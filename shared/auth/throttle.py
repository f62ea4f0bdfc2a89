"""Slowing password guessing without letting anyone lock a member of staff out for good.

Failed logins are counted per (account, address), per account and per address. Past a free
allowance each further failure locks that key for an exponentially growing time, capped, and
every counter forgets after an hour without failures. The per-account cap is short (a minute)
so an attacker elsewhere can only slow the real user, never shut them out; the per-address and
per-(account, address) caps are long. Accounts are keyed by a hash of the email address as
typed, known or not, so the answers are the same whether or not the address exists.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from redis.asyncio import Redis

_PREFIX = "beacon:login:"
FORGET_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    free: int  # failures allowed before any lock
    base_seconds: float  # the first lock; doubles with each further failure
    cap_seconds: float


LIMITS = (
    Limit("account-address", free=3, base_seconds=1, cap_seconds=900),
    Limit("account", free=10, base_seconds=1, cap_seconds=60),
    Limit("address", free=30, base_seconds=1, cap_seconds=900),
)


def lock_seconds(limit: Limit, failures: int) -> float:
    if failures <= limit.free:
        return 0.0
    return float(
        min(limit.base_seconds * 2 ** min(failures - limit.free - 1, 30), limit.cap_seconds)
    )


def _subjects(email: str, ip: str) -> dict[str, str]:
    account = hashlib.sha256(email.strip().casefold().encode()).hexdigest()
    return {"account-address": f"{account}:{ip}", "account": account, "address": ip}


class LoginThrottle:
    def __init__(self, redis: Redis, limits: tuple[Limit, ...] = LIMITS) -> None:
        self.redis = redis
        self.limits = limits

    def _keys(self, email: str, ip: str) -> list[tuple[Limit, str, str]]:
        subjects = _subjects(email, ip)
        return [
            (
                lim,
                f"{_PREFIX}fail:{lim.name}:{subjects[lim.name]}",
                f"{_PREFIX}lock:{lim.name}:{subjects[lim.name]}",
            )
            for lim in self.limits
        ]

    async def retry_after(self, email: str, ip: str) -> int:
        """Seconds until this account may be tried from this address again (0: now)."""
        locks = [lock for _, _, lock in self._keys(email, ip)]
        ttls = [await self.redis.pttl(k) for k in locks]
        return max((math.ceil(t / 1000) for t in ttls if t > 0), default=0)

    async def failed(self, email: str, ip: str) -> None:
        for limit, counter, lock in self._keys(email, ip):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, FORGET_SECONDS)
                failures, _ = await pipe.execute()
            seconds = lock_seconds(limit, failures)
            if seconds > 0:
                await self.redis.set(lock, "1", px=int(seconds * 1000))

    async def succeeded(self, email: str, ip: str) -> None:
        """A right password clears this account's counters (not the address's)."""
        keys = [
            k
            for lim, counter, lock in self._keys(email, ip)
            if lim.name != "address"
            for k in (counter, lock)
        ]
        await self.redis.delete(*keys)
