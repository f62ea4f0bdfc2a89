"""Backpressure: refuse fast and honestly instead of queueing without bound.

- Two lanes, each with its own budget and database pool (Door): the machine API and staff.
- At most `ingest_max_in_flight` API requests are served at once; the next gets 503 at once,
  before its body is read, from pre-rendered bytes: under overload the refusals are most of
  the traffic, so each must cost as little as possible.
- While requests stand in a queue for a database connection (QueueDelay: CoDel's test, on the
  wait for the pool), only as many are admitted as there are connections; the rest get 503 at
  once instead of waiting their turn and then being refused or answered late.
- A request waits at most `db_acquire_timeout` for a database connection, then gets 503.
- Each API key has a token bucket (rate/s, burst 2x); over it, 429.
- A body must arrive within `ingest_body_timeout` (BodyDeadline; a large one at a minimum
  rate), or the request is answered 408 and its connection closed: a slow client holds a
  lane's slot for seconds, not for ever. A Content-Length larger than the route takes is
  answered 413 before a byte is read.
Health, readiness and metrics are never shed: operators must see an overloaded service.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiohttp import typedefs, web

from services.ingest.metrics import IngestMetrics
from shared.auth.throttle import KeyRate
from shared.database import Connection
from shared.problems import PROBLEM_JSON, Overloaded, TooLarge
from shared.web import REQUEST_PG

API_PREFIX = "/v1/"
STATIC_PREFIX = "/static/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = typedefs.Middleware
Clock = Callable[[], float]

# The door's refusal, rendered once: the same problem+json problem_middleware would write.
SHED_BODY = json.dumps(
    {
        "type": "about:blank",
        "title": Overloaded.title,
        "status": 503,
        "detail": "The service is at capacity; retry shortly.",
    }
).encode()
SHED_RETRY_AFTER = "1"


def shed_response() -> web.Response:
    return web.Response(
        body=SHED_BODY,
        status=503,
        content_type=PROBLEM_JSON,
        headers={"Retry-After": SHED_RETRY_AFTER},
    )


class QueueDelay:
    """CoDel's test for a standing queue, on the wait for a database connection.

    A queue that forms and drains is fine; one that stands is not. If even the shortest wait
    in an `interval` exceeded `target`, requests arrive faster than the pool serves them (or
    the event loop is too busy to hand connections over): the queue is standing until a window
    sees a short wait. The verdict lapses one interval after the last window closed, so a door
    that admits nobody cannot stay shut for want of new measurements. target 0 disables it.
    """

    def __init__(self, target: float, interval: float = 0.1, clock: Clock = time.monotonic) -> None:
        self.target = target
        self.interval = interval
        self.clock = clock
        self._window_ends = clock() + interval
        self._shortest = math.inf
        self._standing_until = -math.inf

    def observe(self, waited: float) -> None:
        now = self.clock()
        self._shortest = min(self._shortest, waited)
        if now < self._window_ends:
            return
        standing = 0 < self.target < self._shortest
        self._standing_until = now + self.interval if standing else -math.inf
        self._shortest = math.inf
        self._window_ends = now + self.interval

    def standing(self) -> bool:
        return self.clock() < self._standing_until


class Admission:
    """Counts the requests of one lane being served; refuses at the door past `limit`, or past
    `pool_size` while the queue for a database connection stands."""

    def __init__(
        self,
        limit: int,
        pool_size: int,
        delay: QueueDelay,
        metrics: IngestMetrics,
        lane: str = "api",
    ) -> None:
        self.limit = limit
        self.pool_size = pool_size
        self.delay = delay
        self.count = 0
        gauge = metrics.in_flight if lane == "api" else metrics.staff_in_flight
        gauge.set_function(lambda: self.count)
        prefix = "" if lane == "api" else f"{lane}_"
        self._full = metrics.shed.labels(prefix + "in_flight")
        self._queueing = metrics.shed.labels(prefix + "queue_delay")

    def admits(self) -> bool:
        if self.count >= self.limit:
            self._full.inc()
            return False
        if self.count >= self.pool_size and self.delay.standing():
            self._queueing.inc()
            return False
        return True


@dataclass(frozen=True, slots=True)
class Lane:
    """One budget of the door: its admission count, its standing-queue test and its own pool,
    so a burst in one lane never takes the other's connections."""

    name: str
    admission: Admission
    delay: QueueDelay
    pool: web.AppKey[asyncpg.Pool]


LANE = web.RequestKey("lane", Lane)
# Never shed: operators must see an overloaded service, and static files touch no database.
_UNGUARDED = frozenset({"/healthz", "/readyz", "/metrics"})


class Door:
    """Two lanes: the machine API (requests to /v1 that carry an Authorization header: API keys
    and the admin token) and staff (pages, sign-in, and /v1 calls made with a session cookie).
    A burst from the MIS cannot lock staff out, and a crowd at the sign-in page cannot starve
    the MIS."""

    def __init__(self, api: Lane, staff: Lane) -> None:
        self.api = api
        self.staff = staff

    def lane(self, request: web.Request) -> Lane | None:
        path = request.path
        if path in _UNGUARDED or path.startswith(STATIC_PREFIX):
            return None
        if path.startswith(API_PREFIX) and "Authorization" in request.headers:
            return self.api
        return self.staff

    def middleware(self) -> Middleware:
        @web.middleware
        async def shed_when_full(request: web.Request, handler: Handler) -> web.StreamResponse:
            lane = self.lane(request)
            if lane is None:
                return await handler(request)
            if not lane.admission.admits():
                return shed_response()
            request[LANE] = lane
            request[REQUEST_PG] = request.app[lane.pool]
            lane.admission.count += 1
            try:
                return await handler(request)
            finally:
                lane.admission.count -= 1

        return shed_when_full


DOOR = web.AppKey("door", Door)

# Past the deadline a body still arriving must have come at this rate at least, so a 10 MB
# upload over a school's link is not cut off, and a trickle (Slowloris) holds no slot for long.
MIN_BODY_RATE = 256 * 1024


def _problem(status: int, title: str, detail: str) -> str:
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})


def _closing(status: int, body: str) -> web.Response:
    response = web.Response(body=body.encode(), status=status, content_type=PROBLEM_JSON)
    response.force_close()
    return response


class BodyDeadline:
    """Inside the door: an admitted request's body must have arrived in full `timeout` seconds
    after it was admitted, or, if it is still arriving, at MIN_BODY_RATE bytes a second so far
    (checked every `timeout` seconds). Past that the body's reader raises, and the request is
    answered 408 with its connection closed, whatever the view made of the error.

    A Content-Length over `limit(request)` (the most the route could take) is answered 413 at
    once, before a byte is read; each view still enforces its own, finer limit as it reads."""

    def __init__(self, timeout: float, limit: Callable[[web.Request], int]) -> None:
        self.timeout = timeout
        self.limit = limit
        self._timed_out = _problem(
            408, "Request timeout", f"The request body did not arrive within {timeout:g} s."
        )

    def middleware(self) -> Middleware:
        @web.middleware
        async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.body_exists:
                return await handler(request)
            limit = self.limit(request)
            if request.content_length is not None and request.content_length > limit:
                detail = f"The body may be at most {limit} bytes."
                return _closing(413, _problem(413, TooLarge.title, detail))
            if request.content.is_eof():  # already here in full: nothing to wait for
                return await handler(request)
            return await self._within_deadline(request, handler)

        return body_deadline

    async def _within_deadline(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        content, loop = request.content, asyncio.get_running_loop()
        started, late = loop.time(), list[bool]()

        timers: list[asyncio.TimerHandle] = []

        def check() -> None:
            if content.is_eof():
                return
            if content.total_bytes < (loop.time() - started) * MIN_BODY_RATE:
                late.append(True)
                content.set_exception(web.HTTPRequestTimeout())
                return
            timers.append(loop.call_later(self.timeout, check))

        timers.append(loop.call_later(self.timeout, check))
        try:
            response = await handler(request)
        except Exception:
            if not late:
                raise
            return _closing(408, self._timed_out)
        finally:
            timers[-1].cancel()
            if late:  # aiohttp, draining the rest after the answer, then just hangs up
                content.set_exception(TimeoutError("the request body did not arrive in time"))
        return _closing(408, self._timed_out) if late else response


def measure(metrics: IngestMetrics) -> Middleware:
    """Outermost: sees the final status of every API request, problems included."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        started = time.perf_counter()
        response = await handler(request)
        metrics.seconds.observe(time.perf_counter() - started)
        metrics.requests.labels(str(response.status)).inc()
        return response

    return observe


class RateLimiter(KeyRate):
    """Token bucket per API key (shared.auth.throttle.KeyRate), refusals counted as shed."""

    def __init__(self, rate: float, metrics: IngestMetrics) -> None:
        super().__init__(rate, metrics.shed.labels("rate_limit").inc)


@asynccontextmanager
async def connection(
    pool: asyncpg.Pool, wait: float, metrics: IngestMetrics, delay: QueueDelay | None
) -> AsyncIterator[Connection]:
    """`delay`: the lane's standing-queue test, fed every wait (None outside a lane)."""
    started = time.monotonic()
    try:
        conn = await pool.acquire(timeout=wait)
    except TimeoutError:
        if delay is not None:
            delay.observe(time.monotonic() - started)
        metrics.shed.labels("db_acquire").inc()
        raise Overloaded("All database connections are busy; retry shortly.") from None
    if delay is not None:
        delay.observe(time.monotonic() - started)
    try:
        yield conn
    finally:
        await pool.release(conn)
