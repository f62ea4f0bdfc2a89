"""When a subject access request must be answered (UK GDPR Art. 12(3), the ICO's reading).

One calendar month from the day it was received, to the corresponding date: 3 March -> 3 April.
When the next month has no corresponding date, the month's last day: 31 January -> 28 (or 29)
February. An extension adds up to two further months, counted the same way from receipt (so
31 January extended by two months is due on 30 April, not 28 April). Days the clock was stopped
while identity or scope was clarified move the date on by as many days. School holidays and
weekends change nothing: the month is a calendar month.
"""

from __future__ import annotations

import calendar
import datetime as dt

MAX_EXTENSION_MONTHS = 2


def add_months(day: dt.date, months: int) -> dt.date:
    """The corresponding date `months` later, or that month's last day when it has none."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(received_on: dt.date, extension_months: int = 0, paused_days: int = 0) -> dt.date:
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 0 to {MAX_EXTENSION_MONTHS} months")
    if paused_days < 0:
        raise ValueError("paused days cannot be negative")
    return add_months(received_on, 1 + extension_months) + dt.timedelta(days=paused_days)


def paused_for(paused_on: dt.date, resumed_on: dt.date) -> int:
    """Days the clock stood still: paused on Monday and resumed on Thursday is 3 days."""
    return max(0, (resumed_on - paused_on).days)
