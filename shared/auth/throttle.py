"""Slowing password guessing without letting anyone lock a member of staff out for good, and
the per-API-key request rate.

Every login attempt (and every authenticator code) is counted BEFORE it is checked, in one
Redis script that also decides whether it may be checked at all: N concurrent guesses count N,
and past the allowance the extra ones are refused without touching the password. A right
password then clears the account's counters and takes its own attempt back off the address's.

Attempts are counted per (account, address), per account and per address. Past a free
allowance each further attempt locks that key for an exponentially growing time, capped, and
every counter forgets after an hour without attempts:

- account-address: 3 free, up to 15 minutes. The long lock: it is keyed by the account, so it
  only ever shuts out whoever guesses at that account from that address.
- account: 10 free, up to a minute, so a guesser spread over many addresses can only slow the
  real user, never shut them out.
- address: 300 free, up to a minute. A whole school signs in from one NAT address, typos and
  a curious pupil on the school's network included: the per-address limit is for spraying
  many accounts from one place, high enough that a school's own traffic never meets it, and
  short enough that meeting it cannot shut a school out for long.

Accounts are keyed by a hash of the email address as typed, known or not, so the answers are
the same whether or not the address exists.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.problems import RateLimited

_PREFIX = "beacon:login:"
FORGET_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    free: int  # attempts allowed before any lock
    base_seconds: float  # the first lock; doubles with each further attempt
    cap_seconds: float


LIMITS = (
    Limit("account-address", free=3, base_seconds=1, cap_seconds=900),
    Limit("account", free=10, base_seconds=1, cap_seconds=60),
    Limit("address", free=300, base_seconds=1, cap_seconds=60),
)


def lock_seconds(limit: Limit, failures: int) -> float:
    if failures <= limit.free:
        return 0.0
    return float(
        min(limit.base_seconds * 2 ** min(failures - limit.free - 1, 30), limit.cap_seconds)
    )


# KEYS: counter, lock for each limit. ARGV: check locks first (1/0), forget seconds, then
# free, base ms, cap ms for each limit. Returns the longest lock's ms left (refused, nothing
# counted) or 0 (counted: the attempt may be checked). The lock is the same as lock_seconds.
_ATTEMPT = """
local n = #KEYS / 2
if ARGV[1] == '1' then
  local wait = 0
  for i = 1, n do
    local left = redis.call('PTTL', KEYS[2 * i])
    if left > wait then wait = left end
  end
  if wait > 0 then return wait end
end
for i = 1, n do
  local count = redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[2])
  local free = tonumber(ARGV[3 * i])
  if count > free then
    local ms = math.min(tonumber(ARGV[3 * i + 1]) * 2 ^ math.min(count - free - 1, 30),
                        tonumber(ARGV[3 * i + 2]))
    redis.call('SET', KEYS[2 * i], '1', 'PX', math.floor(ms))
  end
end
return 0
"""

# KEYS: the account's counters and locks, then the address's counter and lock. ARGV: the
# address's free allowance. The address keeps its count of wrong attempts, not right ones.
_SUCCEEDED = """
local address, address_lock = KEYS[#KEYS - 1], KEYS[#KEYS]
for i = 1, #KEYS - 2 do redis.call('DEL', KEYS[i]) end
if redis.call('EXISTS', address) == 1 then
  local left = redis.call('DECR', address)
  if left <= 0 then redis.call('DEL', address) end
  if left <= tonumber(ARGV[1]) then redis.call('DEL', address_lock) end
end
return 0
"""


def _subjects(email: str, ip: str) -> dict[str, str]:
    account = hashlib.sha256(email.strip().casefold().encode()).hexdigest()
    return {"account-address": f"{account}:{ip}", "account": account, "address": ip}


class LoginThrottle:
    def __init__(self, redis: Redis, limits: tuple[Limit, ...] = LIMITS) -> None:
        self.redis = redis
        self.limits = limits
        self._attempt = redis.register_script(_ATTEMPT)
        self._succeeded = redis.register_script(_SUCCEEDED)

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

    async def attempt(self, email: str, ip: str) -> int:
        """Count one attempt at this account from this address, before it is checked. 0: it
        may be checked; otherwise the seconds to wait (and nothing was counted)."""
        return await self._charge(email, ip, check=True)

    async def failed(self, email: str, ip: str) -> None:
        """Count one attempt whether or not a lock stands (for attempts checked elsewhere)."""
        await self._charge(email, ip, check=False)

    async def _charge(self, email: str, ip: str, check: bool) -> int:
        keys = self._keys(email, ip)
        args = ["1" if check else "0", str(FORGET_SECONDS)]
        for lim, _, _ in keys:
            args += [str(lim.free), str(lim.base_seconds * 1000), str(lim.cap_seconds * 1000)]
        flat = [k for _, counter, lock in keys for k in (counter, lock)]
        left_ms = await self._attempt(keys=flat, args=args)
        return math.ceil(int(left_ms) / 1000)

    async def retry_after(self, email: str, ip: str) -> int:
        """Seconds until this account may be tried from this address again (0: now)."""
        locks = [lock for _, _, lock in self._keys(email, ip)]
        ttls = [await self.redis.pttl(k) for k in locks]
        return max((math.ceil(t / 1000) for t in ttls if t > 0), default=0)

    async def succeeded(self, email: str, ip: str) -> None:
        """A right password clears this account's counters, and takes its attempt back off
        the address's (whose wrong attempts stay counted)."""
        keys = self._keys(email, ip)
        account = [k for lim, c, lock in keys if lim.name != "address" for k in (c, lock)]
        address = [(lim, c, lock) for lim, c, lock in keys if lim.name == "address"]
        if not address:
            await self.redis.delete(*account)
            return
        lim, counter, lock = address[0]
        flat = [*account, counter, lock]
        await self._succeeded(keys=flat, args=[str(lim.free)])


class KeyRate:
    """Token bucket per API key: `rate` requests/second sustained, bursts of 2x. Over it,
    RateLimited (429) with Retry-After, and `refused` is called (a metric). rate 0 disables."""

    def __init__(self, rate: float, refused: Callable[[], object] = lambda: None) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self.refused = refused
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    def take(self, key: uuid.UUID) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            self.refused()
            raise RateLimited(
                "This API key is over its request rate; slow down.",
                retry_after=max(1, math.ceil((1 - tokens) / self.rate)),
            )
        self._buckets[key] = (tokens - 1, now)
