"""Checking the books after a fault: what the client was told, what PostgreSQL holds, what the
mail server accepted.

- acknowledged (201, or 200 replayed) incidents == stored incidents, key by key, same id;
- each stored incident's alerts go to exactly the staff the default rules name;
- every alert row delivered (a Message-ID at the mail_server), none failed, none unknown;
- duplicates (a Message-ID accepted twice) listed, each to be explained by a kill of the
  notifier while that alert was leased, or by a `sent` commit the notifier logged as failed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from tests.faults.client import Outcome
from tests.faults.pipeline import Kill
from tests.support.until import until

# (time.time() accepted, alert id) per message the mail server took.
Deliveries = list[tuple[float, str]]

_STATE = """
SELECT (SELECT count(*) FROM alert_events
        WHERE school_id = ANY($1::uuid[]) AND resolved_at IS NULL) AS unresolved,
       count(*) AS alerts,
       count(*) FILTER (WHERE state IN ('sent', 'failed')) AS final
FROM alerts WHERE school_id = ANY($1::uuid[])"""

_INCIDENTS = """
SELECT i.id::text, i.idempotency_key AS key, i.restricted,
       array_agg(s.external_id ORDER BY s.external_id)
           FILTER (WHERE s.external_id IS NOT NULL) AS recipients
FROM incidents i
LEFT JOIN alerts a ON a.incident_id = i.id
LEFT JOIN staff s ON s.id = a.recipient_id
WHERE i.school_id = ANY($1::uuid[])
GROUP BY i.id"""

_ALERTS = """
SELECT a.id::text, a.incident_id::text, a.state, a.priority, a.attempts,
       extract(epoch FROM a.queued_at) AS queued_at
FROM alerts a WHERE a.school_id = ANY($1::uuid[])"""


async def wait_settled(
    dsn: str, schools: list[str], timeout: float
) -> tuple[float, dict[str, int]]:
    """Poll until every event is resolved and every alert is sent or failed (or the deadline);
    returns (seconds waited, last state)."""
    ids = [uuid.UUID(s) for s in schools]
    started = time.monotonic()
    conn = await _connect(dsn, timeout)
    state: dict[str, int] = {}

    async def settled() -> bool:
        state.update(await conn.fetchrow(_STATE, ids))
        return state["unresolved"] == 0 and state["alerts"] == state["final"]

    try:
        await until(settled, timeout, interval=0.2)
    except AssertionError:
        state["timed_out"] = 1  # the scenario reports it rather than failing here
    finally:
        await conn.close()
    return time.monotonic() - started, state


async def _connect(dsn: str, patience: float) -> asyncpg.Connection:
    """A connection, retried while the database itself is coming back from a fault."""

    async def connected() -> asyncpg.Connection | None:
        try:
            return await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return None

    return await until(connected, patience, "the database did not come back", interval=0.2)


@dataclass
class Books:
    acknowledged: int = 0
    stored: int = 0
    acknowledged_not_stored: list[str] = field(default_factory=list)
    stored_not_acknowledged: list[str] = field(default_factory=list)
    id_mismatch: list[str] = field(default_factory=list)
    wrong_recipients: list[str] = field(default_factory=list)
    alerts_expected: int = 0
    alert_rows: int = 0
    delivered: int = 0
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown_message_ids: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    unexplained_duplicates: list[str] = field(default_factory=list)
    leased_at_kills: int = 0
    sent_commits_failed: int = 0  # 250s whose `sent` commit the notifier logged as failed

    def problems(self) -> list[str]:
        """Every way the books fail to balance; empty when nothing was lost or invented."""
        checks = {
            "acknowledged but not stored": self.acknowledged_not_stored,
            "stored but never acknowledged": self.stored_not_acknowledged,
            "acknowledged id differs from stored id": self.id_mismatch,
            "alerted staff differ from the rules": self.wrong_recipients,
            "alerts never delivered": self.missing,
            "alerts failed": self.failed,
            "duplicates not explained by a kill in the 250->commit window": (
                self.unexplained_duplicates
            ),
        }
        found = [
            f"{what}: {len(items)} e.g. {items[:3]}" for what, items in checks.items() if items
        ]
        if self.alerts_expected != self.alert_rows:
            found.append(f"alerts expected {self.alerts_expected} != rows {self.alert_rows}")
        if self.unknown_message_ids:
            found.append(f"{self.unknown_message_ids} messages for no alert row")
        if sum(self.duplicates.values()) > self.leased_at_kills + self.sent_commits_failed:
            found.append("more duplicates than alerts leased at kill time")
        return found

    def figures(self) -> dict[str, Any]:
        out = {k: (len(v) if isinstance(v, list) else v) for k, v in asdict(self).items()}
        out["duplicates"] = sum(self.duplicates.values())
        return out


async def read_books(
    dsn: str,
    schools: list[str],
    outcomes: dict[str, Outcome],
    deliveries: Deliveries,
    kills: list[Kill] = (),  # type: ignore[assignment]
    notifier_log: str = "",
) -> Books:
    ids = [uuid.UUID(s) for s in schools]
    conn = await _connect(dsn, 30)
    try:
        incidents = await conn.fetch(_INCIDENTS, ids)
        alerts = await conn.fetch(_ALERTS, ids)
    finally:
        await conn.close()
    books = Books(acknowledged=len(outcomes), stored=len(incidents))
    _check_incidents(books, outcomes, incidents)
    _check_alerts(books, alerts, deliveries)
    _explain_duplicates(books, kills, not_recorded(notifier_log), deliveries)
    return books


def _check_incidents(
    books: Books, outcomes: dict[str, Outcome], incidents: list[asyncpg.Record]
) -> None:
    stored = {r["key"]: r for r in incidents}
    books.acknowledged_not_stored = sorted(set(outcomes) - set(stored))
    books.stored_not_acknowledged = sorted(set(stored) - set(outcomes))
    for key, row in stored.items():
        outcome = outcomes.get(key)
        if outcome is None:
            continue
        if outcome.incident_id != row["id"]:
            books.id_mismatch.append(key)
        expected = outcome.template.recipients
        books.alerts_expected += len(expected)
        if set(row["recipients"] or ()) != expected or len(row["recipients"] or ()) != len(
            expected
        ):
            books.wrong_recipients.append(key)


def _check_alerts(books: Books, alerts: list[asyncpg.Record], deliveries: Deliveries) -> None:
    copies = Counter(alert_id for _, alert_id in deliveries)
    rows = {r["id"]: r for r in alerts}
    books.alert_rows = len(rows)
    books.delivered = len(set(copies) & set(rows))
    books.missing = sorted(set(rows) - set(copies))
    books.failed = sorted(i for i, r in rows.items() if r["state"] == "failed")
    books.unknown_message_ids = len(set(copies) - set(rows))
    books.duplicates = {i: n - 1 for i, n in copies.items() if n > 1}


def not_recorded(notifier_log: str) -> set[str]:
    """Alerts whose `sent` commit failed after the 250 (logged by the engine): they are sent
    again when their lease expires, which is the same window as a kill."""
    found = set()
    for line in notifier_log.splitlines():
        if "delivery_outcome_not_recorded" in line:
            try:
                found.add(json.loads(line)["alert_id"])
            except (ValueError, KeyError):
                continue
    return found


def _explain_duplicates(
    books: Books, kills: list[Kill], unrecorded: set[str], deliveries: Deliveries
) -> None:
    """A duplicate is explained by a notifier kill that found the alert leased *after* the
    mail server had already accepted it once (its 250 came back, its commit never happened), or by
    a `sent` commit the notifier logged as failed."""
    first = {}
    for at, alert_id in sorted(deliveries):
        first.setdefault(alert_id, at)
    notifier_kills = [k for k in kills if k.service == "notifier"]
    books.leased_at_kills = sum(len(k.leased) for k in notifier_kills)
    books.sent_commits_failed = len(unrecorded)
    books.unexplained_duplicates = sorted(
        alert_id
        for alert_id in books.duplicates
        if alert_id not in unrecorded
        and not any(alert_id in k.leased and first[alert_id] <= k.at for k in notifier_kills)
    )
