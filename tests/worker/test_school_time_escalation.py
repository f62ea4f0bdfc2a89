"""Escalation in school time: shared.school_time's one function, by table (a term boundary, a
bank holiday, an INSET day, the clock change at the end of October), and the worker's
escalation deciding by each school's calendar."""

from __future__ import annotations

import datetime as dt

import pytest
from asyncpg import Range

from services.worker.escalation import escalate_once
from shared import queue
from shared.school_time import LONDON, SchoolCalendar, Term, escalation_due, school_days
from tests.support.world import record_incident

HALF_HOUR = dt.timedelta(minutes=30)
MARGIN = dt.timedelta(minutes=10)
NINE_TO_THREE = {"day_starts": dt.time(8, 45), "day_ends": dt.time(15, 15)}
# England 2025-26: half term 27-31 October, Christmas 22 December - 2 January; INSET days on
# the first day back in November and in January.
TERMS = SchoolCalendar(
    "england",
    **NINE_TO_THREE,
    terms=(
        Term(dt.date(2025, 9, 3), dt.date(2025, 10, 24)),
        Term(dt.date(2025, 11, 3), dt.date(2025, 12, 19)),
        Term(dt.date(2026, 1, 5), dt.date(2026, 2, 13)),
    ),
    inset_days=frozenset({dt.date(2025, 11, 3), dt.date(2026, 1, 5)}),
)
WEEKDAYS = SchoolCalendar("england", **NINE_TO_THREE)  # no terms: weekdays but bank holidays
SCOTLAND = SchoolCalendar("scotland", **NINE_TO_THREE)
NO_HOURS = SchoolCalendar("england")


def london(y, m, d, hh, mm):
    return dt.datetime(y, m, d, hh, mm, tzinfo=LONDON)


@pytest.mark.parametrize(
    "case, calendar, raised, restricted, due",
    [
        ("in hours: after the delay", TERMS, london(2025, 9, 9, 10, 0), False,
         london(2025, 9, 9, 10, 30)),
        ("14:50 in a day ending 15:15: by 15:05", TERMS, london(2025, 9, 9, 14, 50), False,
         london(2025, 9, 9, 15, 5)),
        ("restricted, 14:50: by 15:05 too", TERMS, london(2025, 9, 9, 14, 50), True,
         london(2025, 9, 9, 15, 5)),
        ("inside the margin: at once", TERMS, london(2025, 9, 9, 15, 10), False,
         london(2025, 9, 9, 15, 10)),
        ("evening: next morning", TERMS, london(2025, 9, 9, 18, 0), False,
         london(2025, 9, 10, 8, 45)),
        ("evening, restricted: the plain delay", TERMS, london(2025, 9, 9, 18, 0), True,
         london(2025, 9, 9, 18, 30)),
        ("before the day starts: its start", TERMS, london(2025, 9, 10, 7, 30), False,
         london(2025, 9, 10, 8, 45)),
        ("Saturday: Monday morning", TERMS, london(2025, 9, 13, 11, 0), False,
         london(2025, 9, 15, 8, 45)),
        ("term boundary: Christmas, then past the INSET day", TERMS,
         london(2025, 12, 19, 16, 0), False, london(2026, 1, 6, 8, 45)),
        ("an INSET day is out of hours", TERMS, london(2026, 1, 5, 10, 0), False,
         london(2026, 1, 6, 8, 45)),
        ("an INSET day, restricted: the plain delay", TERMS, london(2026, 1, 5, 10, 0), True,
         london(2026, 1, 5, 10, 30)),
        ("half term over the clock change, then an INSET day", TERMS,
         london(2025, 10, 24, 16, 0), False, london(2025, 11, 4, 8, 45)),
        ("clock change: Monday 08:45 is GMT", WEEKDAYS, london(2025, 10, 24, 16, 0), False,
         dt.datetime(2025, 10, 27, 8, 45, tzinfo=dt.UTC)),
        ("clock change, restricted: an hour of wall time is an hour", WEEKDAYS,
         dt.datetime(2025, 10, 25, 23, 50, tzinfo=dt.UTC), True,
         dt.datetime(2025, 10, 26, 0, 20, tzinfo=dt.UTC)),
        ("bank holidays: Good Friday to Easter Monday", WEEKDAYS, london(2026, 4, 2, 17, 0),
         False, london(2026, 4, 7, 8, 45)),
        ("Scotland has no Easter Monday holiday", SCOTLAND, london(2026, 4, 2, 17, 0), False,
         london(2026, 4, 6, 8, 45)),
        ("on a bank holiday, restricted: the plain delay", WEEKDAYS,
         london(2026, 5, 4, 10, 0), True, london(2026, 5, 4, 10, 30)),
        ("on a bank holiday: the next morning", WEEKDAYS, london(2026, 5, 4, 10, 0), False,
         london(2026, 5, 5, 8, 45)),
        ("no hours set: wall time", NO_HOURS, london(2025, 9, 9, 14, 50), False,
         london(2025, 9, 9, 15, 20)),
    ],
)  # fmt: skip
def test_escalation_due(case, calendar, raised, restricted, due):
    assert escalation_due(raised, HALF_HOUR, calendar, restricted, MARGIN) == due, case


def test_school_days_across_christmas_and_an_inset_day():
    days = school_days(TERMS, dt.date(2025, 12, 15), dt.date(2026, 1, 9))
    assert [d.isoformat() for d in days] == [
        *(f"2025-12-{d}" for d in range(15, 20)),
        *(f"2026-01-0{d}" for d in range(6, 10)),
    ]


def test_school_days_without_terms_are_weekdays_but_bank_holidays():
    days = school_days(WEEKDAYS, dt.date(2026, 12, 21), dt.date(2027, 1, 8))
    # 25 December (Friday), Boxing Day observed (Monday 28th), New Year's Day (Friday 1st).
    assert [d.isoformat() for d in days] == [
        "2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24",
        "2026-12-29", "2026-12-30", "2026-12-31",
        "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08",
    ]  # fmt: skip


# -- The worker ---------------------------------------------------------------------------------


async def _unread_restricted(pg, school, drain, redis, resolved_at):
    async with pg.acquire() as conn:
        recorded = await record_incident(conn, school, "S03", "P0001", ["safeguarding/cla"])
    await queue.enqueue_resolve(redis, recorded.event)
    await drain()
    await pg.execute("UPDATE alert_events SET resolved_at = $2 WHERE id = $1", recorded.event,
                     resolved_at)  # fmt: skip
    return recorded.id


async def _set_calendar(pg, school, calendar):
    await pg.execute(
        """INSERT INTO school_calendars (school_id, nation, day_starts, day_ends, terms,
                                         inset_days)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        school.id,
        calendar.nation,
        calendar.day_starts,
        calendar.day_ends,
        [Range(t.start, t.end, upper_inc=True) for t in calendar.terms],
        sorted(calendar.inset_days),
    )


@pytest.mark.parametrize(
    "raised, not_yet, due",
    [
        # Raised at 14:50 of a day ending 15:15: escalated by 15:05, not at 15:20.
        (london(2026, 1, 6, 14, 50), london(2026, 1, 6, 15, 4), london(2026, 1, 6, 15, 5)),
        # Restricted, raised in the evening: the plain delay, not the next morning.
        (london(2026, 1, 6, 18, 0), london(2026, 1, 6, 18, 29), london(2026, 1, 6, 18, 30)),
    ],
)
async def test_the_worker_escalates_in_the_schools_time(
    pg, redis, school, drain, raised, not_yet, due
):
    await _set_calendar(pg, school, TERMS)
    await _unread_restricted(pg, school, drain, redis, raised)
    seconds = HALF_HOUR.total_seconds()
    assert await escalate_once(pg, redis, seconds, MARGIN.total_seconds(), now=not_yet) == []
    [event] = await escalate_once(pg, redis, seconds, MARGIN.total_seconds(), now=due)
    level = await pg.fetchval("SELECT level FROM alert_events WHERE id = $1", event)
    assert level == 1


async def test_a_school_without_hours_escalates_in_wall_time(pg, redis, school, drain):
    # 14:50 on a school day, but the school has set no hours: after the delay, not by 15:05.
    await _unread_restricted(pg, school, drain, redis, london(2026, 1, 6, 14, 50))
    seconds = HALF_HOUR.total_seconds()
    assert await escalate_once(pg, redis, seconds, 600, now=london(2026, 1, 6, 15, 5)) == []
    assert len(await escalate_once(pg, redis, seconds, 600, now=london(2026, 1, 6, 15, 20))) == 1
