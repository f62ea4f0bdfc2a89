"""A well-behaved client app posting incidents: one Idempotency-Key per incident, a 2 s
timeout, and retries — after `Retry-After` on 503/429, after a short backoff when the
connection failed or timed out — until the incident is acknowledged (201, or 200 replayed).

Every attempt is logged with the client's own clock, so "answered within N s" is measured
from when the request left, whatever the server says about itself. `submit` fits
bench/load.py's open loop (`Fire`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp

ACKNOWLEDGED = (200, 201)
SHED = (429, 503)
NO_ANSWER = 0  # connection refused: the request never reached the server
TIMED_OUT = -1  # no answer within the client's timeout: a hang
IN_DOUBT = -2  # sent, then the connection dropped: it may or may not have been stored


@dataclass(frozen=True, slots=True)
class Template:
    """An incident body and who the default rules alert for it (roster: tests/support)."""

    kind: str
    pupil: str
    categories: tuple[str, ...]
    recipients: frozenset[str]

    @property
    def restricted(self) -> bool:
        return self.kind == "restricted"


# Author S04 (DSL and teacher) may record restricted categories and is never alerted itself.
ROUTINE_C3 = Template(
    "routine",
    "P0001",
    ("cause-for-concern/mental-health",),
    frozenset({"S01", "S02", "S03", "S06", "S08"}),
)  # SLT, pastoral, C3
ROUTINE_C4 = Template(
    "routine", "P0002", ("behaviour/negative-behaviour",), frozenset({"S01", "S02", "S03", "S07"})
)  # SLT, pastoral, C4 teacher
RESTRICTED = Template(
    "restricted", "P0001", ("safeguarding/cla",), frozenset({"S01", "S02", "S03", "S05"})
)  # SLT, pastoral, deputy DSL


def template_for(index: int, restricted_every: int = 10) -> Template:
    if restricted_every and index % restricted_every == restricted_every - 1:
        return RESTRICTED
    return ROUTINE_C4 if index % 3 == 1 else ROUTINE_C3


def body_for(template: Template, index: int) -> bytes:
    occurred = (datetime.now(UTC) - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "author": "S04",
            "pupil": template.pupil,
            "occurred_at": occurred,
            "description": f"Fault-suite incident {index}: upset at lunch, spoke to them after.",
            "categories": list(template.categories),
            "alert_staff": [],
        }
    ).encode()


@dataclass(frozen=True, slots=True)
class Attempt:
    index: int
    started: float  # time.monotonic() when the request left
    seconds: float  # until the answer (or the error)
    status: int  # HTTP status, NO_ANSWER or TIMED_OUT
    retry_after: str | None


@dataclass(slots=True)
class Outcome:
    index: int
    key: str
    template: Template
    incident_id: str | None = None
    status: int = NO_ANSWER  # the last answer
    acknowledged_at: float = 0.0  # time.time(), to match against SMTP accept times
    attempts: int = 0


@dataclass
class Reporter:
    """Posts incidents for one school, as a client app would."""

    http: aiohttp.ClientSession
    ingest_url: str
    api_key: str
    run_id: str
    timeout: float = 2.0
    give_up_after: float = 120.0
    restricted_every: int = 10
    attempts: list[Attempt] = field(default_factory=list)
    outcomes: dict[int, Outcome] = field(default_factory=dict)

    async def submit(self, index: int) -> int:
        template = template_for(index, self.restricted_every)
        outcome = Outcome(index, f"{self.run_id}-{index}", template)
        self.outcomes[index] = outcome
        body = body_for(template, index)
        deadline = time.monotonic() + self.give_up_after
        for attempt_no in range(1, 10_000):
            attempt = await self._attempt(index, outcome, body)
            outcome.attempts = attempt_no
            if attempt.status in ACKNOWLEDGED or time.monotonic() > deadline:
                break
            if attempt.status > 0 and attempt.status not in SHED:
                break  # 4xx or 500: a well-behaved app does not retry it; the books flag it
            await asyncio.sleep(_wait(attempt, attempt_no))
        return outcome.status

    async def _attempt(self, index: int, outcome: Outcome, body: bytes) -> Attempt:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Idempotency-Key": outcome.key,
            "Content-Type": "application/json",
        }
        started = time.monotonic()
        retry_after = None
        try:
            async with self.http.post(
                f"{self.ingest_url}/v1/incidents",
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as r:
                status, retry_after = r.status, r.headers.get("Retry-After")
                if status in ACKNOWLEDGED:
                    outcome.incident_id = (await r.json())["id"]
                    outcome.acknowledged_at = time.time()
        except TimeoutError:
            status = TIMED_OUT
        except (aiohttp.ClientConnectorError, ConnectionRefusedError):
            status = NO_ANSWER
        except (aiohttp.ClientError, OSError):
            status = IN_DOUBT
        attempt = Attempt(index, started, time.monotonic() - started, status, retry_after)
        outcome.status = status
        self.attempts.append(attempt)
        return attempt

    def acknowledged(self) -> dict[str, Outcome]:
        """Idempotency-Key -> outcome, for every incident the app was told is stored."""
        return {o.key: o for o in self.outcomes.values() if o.status in ACKNOWLEDGED}


def _wait(attempt: Attempt, attempt_no: int) -> float:
    if attempt.status in SHED and attempt.retry_after and attempt.retry_after.isdigit():
        return float(attempt.retry_after) + random.uniform(0, 0.5)  # jitter: no thundering herd
    # No answer: exponential backoff with jitter, so a struggling server is not hammered.
    return min(8.0, 0.25 * 2**attempt_no) * random.uniform(0.5, 1.0)


def attempt_figures(attempts: list[Attempt]) -> dict[str, object]:
    """What the client saw: statuses, shed answers missing Retry-After, slowest answer."""
    statuses = Counter(a.status for a in attempts)
    answered = [a.seconds for a in attempts if a.status > 0]
    return {
        "requests": len(attempts),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "shed": sum(statuses[s] for s in SHED),
        "shed_without_retry_after": sum(
            1 for a in attempts if a.status in SHED and not a.retry_after
        ),
        "no_answer": statuses[NO_ANSWER],
        "timed_out": statuses[TIMED_OUT],
        "in_doubt": statuses[IN_DOUBT],
        "server_errors": sum(n for s, n in statuses.items() if s >= 500 and s != 503),
        "client_errors": sum(n for s, n in statuses.items() if 400 <= s < 500 and s != 429),
        "max_answer_ms": round(max(answered, default=0.0) * 1000, 1),
    }
