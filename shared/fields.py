"""Field readers for JSON payloads: each returns a clean value or raises InvalidInput naming
the field by its path (e.g. "pupils[3].date_of_birth").

Strings are checked for what PostgreSQL cannot store (NUL, lone surrogates) so bad input is a
422 here, never a driver error later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shared.problems import InvalidInput, NotFound

T = TypeVar("T")


def obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{path or 'The body'} must be a JSON object.", field=path or "$")
    return value


def only_keys(value: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise InvalidInput(f"Unknown field {key!r}.", field=join(path, str(key)))


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def storable(value: str) -> bool:
    """PostgreSQL text can hold it: no NUL, no lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def path_key(raw: str, what: str, max_len: int = 64) -> str:
    """An id from the URL path: one that nothing could be stored under is simply not found."""
    if len(raw) > max_len or not storable(raw):
        raise NotFound(f"No such {what}.")
    return raw


def text(value: Any, path: str, max_len: int, min_len: int = 1, strip: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{path} must be a string.", field=path)
    if "\x00" in value:
        raise InvalidInput(f"{path} must not contain NUL characters.", field=path)
    if not storable(value):
        raise InvalidInput(f"{path} is not valid Unicode text.", field=path)
    cleaned = value.strip() if strip else value
    if len(cleaned) < min_len:
        raise InvalidInput(
            f"{path} must not be empty."
            if min_len == 1
            else f"{path} must be at least {min_len} characters.",
            field=path,
        )
    if len(cleaned) > max_len:
        raise InvalidInput(f"{path} must be at most {max_len} characters.", field=path)
    return cleaned


def identifier(value: Any, path: str) -> str:
    """An external id from the school's MIS (staff, pupil, class)."""
    return text(value, path, max_len=64)


def listing(
    value: Any, path: str, item: Callable[[Any, str], T], max_items: int, min_items: int = 0
) -> list[T]:
    if not isinstance(value, list):
        raise InvalidInput(f"{path} must be a list.", field=path)
    if len(value) < min_items:
        raise InvalidInput(f"{path} needs at least {min_items} item(s).", field=path)
    if len(value) > max_items:
        raise InvalidInput(f"{path} may hold at most {max_items} items.", field=path)
    return [item(v, join(path, i)) for i, v in enumerate(value)]


def unique(values: list[str], path: str) -> list[str]:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise InvalidInput(f"{v!r} appears twice.", field=join(path, i))
        seen.add(v)
    return values


def required(payload: Mapping[str, Any], key: str, path: str = "") -> Any:
    if key not in payload or payload[key] is None:
        raise InvalidInput(f"{join(path, key)} is required.", field=join(path, key))
    return payload[key]


# Python's datetime range is wider than anything real; a floor keeps UTC conversion safe.
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def timestamp(value: Any, path: str, latest: dt.datetime) -> dt.datetime:
    raw = text(value, path, max_len=40)
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{path} must be an ISO-8601 date-time.", field=path) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(f"{path} needs a timezone (e.g. 'Z' or '+01:00').", field=path)
    if not _EARLIEST <= parsed <= latest:
        raise InvalidInput(
            f"{path} must not be in the future."
            if parsed > latest
            else f"{path} is too far in the past.",
            field=path,
        )
    return parsed


def date(value: Any, path: str) -> dt.date:
    raw = text(value, path, max_len=10)
    try:
        parsed = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{path} must be a date (YYYY-MM-DD).", field=path) from None
    if parsed.year < 1900:
        raise InvalidInput(f"{path} is too far in the past.", field=path)
    return parsed
