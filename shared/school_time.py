"""School time: which days a school is open, and when an unread alert is due to escalate.

Pure functions over a school's calendar (its nation's bank holidays come from the `holidays`
package; term dates and INSET days are the school's own), used by the calendar API and by the
worker's escalation alike. Times of day are Europe/London wall time; every datetime in or out
is timezone-aware, and arithmetic is done in UTC so a clock change never shifts a delay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
# The nations of the UK as `holidays.UK` names their subdivisions.
NATIONS = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern-ireland": "NIR"}
DEFAULT_NATION = "england"
# How far ahead the next school morning is looked for (a summer holiday is ~6 weeks).
HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class Term:
    start: dt.date
    end: dt.date  # the last day of term, inclusive


@dataclass(frozen=True, slots=True)
class SchoolCalendar:
    """No terms: every weekday but bank holidays is a school day. No hours (a school that has
    not set its calendar): escalation counts wall time."""

    nation: str = DEFAULT_NATION
    day_starts: dt.time | None = None
    day_ends: dt.time | None = None
    terms: tuple[Term, ...] = ()
    inset_days: frozenset[dt.date] = field(default_factory=frozenset)


class Row(Protocol):
    def __getitem__(self, key: str) -> Any: ...


def from_row(row: Row | None) -> SchoolCalendar:
    """A `school_calendars` row (terms as date ranges: inclusive start, exclusive end), or the
    default calendar for a school that has none."""
    if row is None:
        return SchoolCalendar()
    terms = tuple(Term(r.lower, r.upper - dt.timedelta(days=1)) for r in row["terms"])
    return SchoolCalendar(
        row["nation"], row["day_starts"], row["day_ends"], terms, frozenset(row["inset_days"])
    )


@lru_cache(maxsize=64)
def bank_holidays(nation: str, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("GB", subdiv=NATIONS[nation], years=year))


def is_school_day(calendar: SchoolCalendar, day: dt.date) -> bool:
    if day.weekday() >= 5 or day in bank_holidays(calendar.nation, day.year):
        return False
    if day in calendar.inset_days:  # staff training: no pupils, no one watching alerts
        return False
    return not calendar.terms or any(t.start <= day <= t.end for t in calendar.terms)


def school_days(calendar: SchoolCalendar, start: dt.date, end: dt.date) -> list[dt.date]:
    """The school days from `start` to `end`, both included."""
    return [d for d in _days(start, end) if is_school_day(calendar, d)]


def next_school_day(calendar: SchoolCalendar, start: dt.date) -> dt.date | None:
    """The first school day on or after `start`, within HORIZON_DAYS."""
    end = start + dt.timedelta(days=HORIZON_DAYS)
    return next((d for d in _days(start, end) if is_school_day(calendar, d)), None)


def escalation_due(
    raised_at: dt.datetime,
    delay: dt.timedelta,
    calendar: SchoolCalendar,
    restricted: bool,
    margin: dt.timedelta,
) -> dt.datetime:
    """When an alert raised at `raised_at`, still unread, escalates.

    During a school day: after `delay`, but never later than `margin` before the day ends (at
    once if that is already past), so nobody goes home with it unread. Out of hours: at the
    next school morning's start, unless `restricted` (then after `delay`: harm does not keep
    school hours). A calendar without hours, or no school day ahead: after `delay`.
    """
    wall = raised_at + delay
    if calendar.day_starts is None or calendar.day_ends is None:
        return wall
    local = raised_at.astimezone(LONDON)
    today = local.date()
    if is_school_day(calendar, today):
        starts, ends = _at(today, calendar.day_starts), _at(today, calendar.day_ends)
        if starts <= raised_at < ends:
            return min(wall, max(raised_at, ends - margin))
    if restricted:
        return wall
    first = today if local.time() < calendar.day_starts else today + dt.timedelta(days=1)
    morning = next_school_day(calendar, first)
    return wall if morning is None else _at(morning, calendar.day_starts)


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    """`time` on `day` in London, as UTC (school hours are never in a clock change's gap)."""
    return dt.datetime.combine(day, time, tzinfo=LONDON).astimezone(dt.UTC)


def _days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    return (start + dt.timedelta(days=n) for n in range((end - start).days + 1))
