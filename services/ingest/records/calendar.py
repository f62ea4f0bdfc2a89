"""A school's calendar: its nation, the times its day starts and ends, term dates and INSET
days, entered or imported from an iCalendar file. Which days are school days, and when an
alert escalates, is shared.school_time's (the worker uses the same function).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asyncpg import Range

from shared import fields, school_time
from shared.database import Connection
from shared.problems import InvalidInput
from shared.school_time import LONDON, NATIONS, SchoolCalendar, Term

MAX_TERMS = 60
MAX_INSET_DAYS = 200
MAX_EVENTS = 1000
MAX_RANGE_DAYS = 400
FIRST_YEAR, LAST_YEAR = 1990, 2200  # a school calendar's years (and far from date's limits)
_KEYS = frozenset({"nation", "day_starts", "day_ends", "terms", "inset_days"})
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")

_SELECT = """SELECT nation, day_starts, day_ends, terms, inset_days FROM school_calendars
WHERE school_id = $1"""
_UPSERT = """
INSERT INTO school_calendars (school_id, nation, day_starts, day_ends, terms, inset_days)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (school_id) DO UPDATE SET nation = EXCLUDED.nation,
    day_starts = EXCLUDED.day_starts, day_ends = EXCLUDED.day_ends, terms = EXCLUDED.terms,
    inset_days = EXCLUDED.inset_days, updated_at = now()
"""


@dataclass(frozen=True, slots=True)
class Imported:
    terms: list[Term]
    inset_days: list[dt.date]
    skipped: list[str]  # summaries of events that are neither a term nor an INSET day


def parse_calendar(body: Any) -> SchoolCalendar:
    payload = fields.obj(body, "")
    fields.only_keys(payload, _KEYS, "")
    nation = fields.required(payload, "nation")
    if nation not in NATIONS:
        raise InvalidInput(f"nation must be one of {', '.join(NATIONS)}.", field="nation")
    starts = _time(fields.required(payload, "day_starts"), "day_starts")
    ends = _time(fields.required(payload, "day_ends"), "day_ends")
    if ends <= starts:
        raise InvalidInput("day_ends must be after day_starts.", field="day_ends")
    terms = fields.listing(payload.get("terms", []), "terms", _term, MAX_TERMS)
    inset = fields.listing(payload.get("inset_days", []), "inset_days", _date, MAX_INSET_DAYS)
    return SchoolCalendar(nation, starts, ends, tuple(terms), frozenset(inset))


def parse_range(query: Any, today: dt.date) -> tuple[dt.date, dt.date]:
    """`from` (default today) and `to` (default six weeks on), at most MAX_RANGE_DAYS apart."""
    start = _date(query["from"], "from") if "from" in query else today
    end = _date(query["to"], "to") if "to" in query else start + dt.timedelta(weeks=6)
    if end < start:
        raise InvalidInput("to must not be before from.", field="to")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"Ask for at most {MAX_RANGE_DAYS} days at a time.", field="to")
    return start, end


def _date(value: Any, path: str) -> dt.date:
    day = fields.date(value, path)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(f"{path} must be from {FIRST_YEAR} to {LAST_YEAR}.", field=path)
    return day


def _time(value: Any, path: str) -> dt.time:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(f"{path} must be a time of day (HH:MM).", field=path)
    return dt.time(int(match[1]), int(match[2]))


def _term(value: Any, path: str) -> Term:
    payload = fields.obj(value, path)
    fields.only_keys(payload, frozenset({"start", "end"}), path)
    start = _date(fields.required(payload, "start", path), fields.join(path, "start"))
    end = _date(fields.required(payload, "end", path), fields.join(path, "end"))
    if end < start:
        raise InvalidInput("A term must not end before it starts.", field=fields.join(path, "end"))
    return Term(start, end)


async def load_calendar(
    conn: Connection, school_id: uuid.UUID, lock: bool = False
) -> SchoolCalendar:
    """The school's calendar (the default one if it has set none). `lock`: two changes for
    one school apply in turn, each audited against the true before."""
    if lock:
        await conn.execute("SELECT 1 FROM schools WHERE id = $1 FOR UPDATE", school_id)
    return school_time.from_row(await conn.fetchrow(_SELECT, school_id))


async def save_calendar(conn: Connection, school_id: uuid.UUID, calendar: SchoolCalendar) -> None:
    terms = [Range(t.start, t.end, upper_inc=True) for t in sorted(calendar.terms, key=_start)]
    await conn.execute(
        _UPSERT,
        school_id,
        calendar.nation,
        calendar.day_starts,
        calendar.day_ends,
        terms,
        sorted(calendar.inset_days),
    )


def calendar_json(calendar: SchoolCalendar) -> dict[str, Any]:
    return {
        "nation": calendar.nation,
        "day_starts": _hhmm(calendar.day_starts),
        "day_ends": _hhmm(calendar.day_ends),
        "terms": [
            {"start": t.start.isoformat(), "end": t.end.isoformat()}
            for t in sorted(calendar.terms, key=_start)
        ],
        "inset_days": [d.isoformat() for d in sorted(calendar.inset_days)],
    }


def _hhmm(value: dt.time | None) -> str | None:
    return None if value is None else f"{value:%H:%M}"


def _start(term: Term) -> dt.date:
    return term.start


# -- iCalendar (RFC 5545): only what term-date files use ------------------------------------

_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
# Events that are neither a term nor an INSET day: holidays, half terms, closures.
_NOT_TERM = re.compile(r"holiday|half[\s-]*term|break|closed|closure", re.IGNORECASE)
_HALF_TERM = re.compile(r"half[\s-]*term", re.IGNORECASE)
_TERM_WORD = re.compile(r"\bterm\b", re.IGNORECASE)


def parse_ical(text: str) -> Imported:
    """Each VEVENT whose SUMMARY says INSET makes its days INSET days; a holiday, half term or
    closure is skipped (and named); any other event is a term from its first to its last day
    (an all-day DTEND is the day after, as RFC 5545 has it). 422 naming `body` otherwise."""
    terms: list[Term] = []
    inset: set[dt.date] = set()
    skipped: list[str] = []
    for n, event in enumerate(_events(text)):
        if n >= MAX_EVENTS:
            raise InvalidInput(f"At most {MAX_EVENTS} events in one file.", field="body")
        summary = event.get("SUMMARY", "")
        start, end = _event_days(event, n)
        if "INSET" in summary.upper():
            inset.update(start + dt.timedelta(days=k) for k in range((end - start).days + 1))
        elif _is_break(summary):
            skipped.append(summary)
        else:
            terms.append(Term(start, end))
    if not terms and not inset:
        raise InvalidInput("The file has no term dates or INSET days (VEVENTs).", field="body")
    if len(terms) > MAX_TERMS or len(inset) > MAX_INSET_DAYS:
        raise InvalidInput("The file has more terms or INSET days than a school has.", "body")
    return Imported(terms, sorted(inset), skipped)


def _is_break(summary: str) -> bool:
    """A holiday, half term or closure; "Autumn term (after half term)" is still a term."""
    if not _NOT_TERM.search(summary):
        return False
    rest = _HALF_TERM.sub("", summary)
    return not _TERM_WORD.search(rest)


def _events(text: str) -> Iterator[dict[str, str]]:
    event: dict[str, str] | None = None
    for line in _unfolded(text):
        name, value = _property(line)
        if name == "BEGIN" and value.upper() == "VEVENT":
            event = {}
        elif name == "END" and value.upper() == "VEVENT" and event is not None:
            yield event
            event = None
        elif event is not None and name in ("DTSTART", "DTEND", "SUMMARY"):
            event[name] = _unescape(value) if name == "SUMMARY" else value


def _unfolded(text: str) -> Iterator[str]:
    """Content lines, with folded ones (a CRLF then a space or tab) joined again."""
    current = ""
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t"):
            current += raw[1:]
            continue
        if current:
            yield current
        current = raw
    if current:
        yield current


def _property(line: str) -> tuple[str, str]:
    """NAME;PARAM=VALUE;...:VALUE -> (NAME, VALUE); a quoted parameter value may hold ':'.
    The value's form says DATE or DATE-TIME, so parameters are not needed."""
    quoted, split = False, -1
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            split = i
            break
    if split < 0:
        return "", ""
    name = line[:split].split(";", 1)[0]
    return name.strip().upper(), line[split + 1 :].strip()


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def _event_days(event: dict[str, str], n: int) -> tuple[dt.date, dt.date]:
    if "DTSTART" not in event:
        raise InvalidInput(f"Event {n + 1} has no DTSTART.", field="body")
    start, _ = _when(event["DTSTART"], n)
    if "DTEND" not in event:
        return start, start
    end, at = _when(event["DTEND"], n)
    if at == dt.time(0, 0):  # an all-day end, or midnight: the end is exclusive
        end -= dt.timedelta(days=1)
    return start, max(start, end)


def _when(value: str, n: int) -> tuple[dt.date, dt.time]:
    """The London date and time of day (midnight for a DATE)."""
    match = _DATE.match(value)
    if match is None:
        raise InvalidInput(f"Event {n + 1} has a date iCalendar cannot read.", field="body")
    if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise InvalidInput(f"Event {n + 1} is not from {FIRST_YEAR} to {LAST_YEAR}.", "body")
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match[4] is None:
            return day, dt.time(0, 0)
        moment = dt.datetime.combine(day, dt.time(int(match[4]), int(match[5]), int(match[6])))
    except ValueError:
        raise InvalidInput(f"Event {n + 1} has no such date.", field="body") from None
    if match[7]:
        moment = moment.replace(tzinfo=dt.UTC).astimezone(LONDON).replace(tzinfo=None)
    return moment.date(), moment.time()
