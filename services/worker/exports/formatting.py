"""What every export prints the same way: UK dates and times, staff as names or roles, CSV
cells that a spreadsheet will not run as formulas, and day ranges in UK time."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
ROLE_LABELS = {
    "head": "Headteacher",
    "dsl": "DSL",
    "deputy_dsl": "Deputy DSL",
    "slt": "SLT",
    "pastoral": "Pastoral lead",
    "teacher": "Teacher",
    "teaching_assistant": "Teaching assistant",
    "admin": "Administrator",
}
# A cell opening with one of these is a formula to Excel and LibreOffice (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def when(value: dt.datetime) -> str:
    local = value.astimezone(LONDON)
    return f"{local.day} {local:%b %Y %H:%M}"


def day(value: dt.date) -> str:
    return f"{value.day} {value:%B %Y}"


def date_range(since: dt.date | None, until: dt.date | None) -> str:
    if since and until:
        return f"{day(since)} to {day(until)}"
    if since:
        return f"From {day(since)}"
    if until:
        return f"Up to {day(until)}"
    return "Every record"


def start_of(value: dt.date, days: int = 0) -> dt.datetime:
    """Midnight in UK time, `days` later."""
    return dt.datetime.combine(value + dt.timedelta(days=days), dt.time(), LONDON)


def role(roles: Sequence[str]) -> str:
    """The one role a reader needs: the most senior the person holds."""
    for r in ROLE_LABELS:
        if r in roles:
            return ROLE_LABELS[r]
    return "Staff"


def staff(name: str, roles: Sequence[str], with_names: bool) -> str:
    return f"{name} ({role(roles)})" if with_names else role(roles)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    minutes = s // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a byte order mark (Excel then reads it as UTF-8), CRLF, formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
