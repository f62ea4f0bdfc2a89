"""What an API key may do: its scopes, and the staff it may post as.

A key is a school's integration, not a member of staff: it posts incidents, and reads back only
what it posted. Anything more is a scope the school's admin grants when creating the key:
`alerts:staff` (a staff app that shows people their own alerts) and `restricted` (a
safeguarding system posting restricted categories) are never defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import fields
from shared.problems import Forbidden, InvalidInput

if TYPE_CHECKING:
    from shared.auth.caller import Caller

INCIDENTS_WRITE = "incidents:write"  # post incidents; actions and files on its own incidents
INCIDENTS_READ = "incidents:read"  # read back its own incidents, with its own actions and files
ALERTS_READ = "alerts:read"  # the alert states of its own incidents
ALERTS_STAFF = "alerts:staff"  # list staff members' alerts and mark them read, for them
RESTRICTED = "restricted"  # post (and read back) restricted categories
ROSTER_WRITE = "roster:write"  # the roster import of its own school

ALL = (INCIDENTS_WRITE, INCIDENTS_READ, ALERTS_READ, ALERTS_STAFF, RESTRICTED, ROSTER_WRITE)
DEFAULT = (INCIDENTS_WRITE, INCIDENTS_READ, ALERTS_READ)
MAX_AUTHORS = 1000


def parse_scopes(value: Any) -> tuple[str, ...]:
    """The scopes a key is created with (the default set when absent), in ALL's order."""
    if value is None:
        return DEFAULT
    named = fields.listing(value, "scopes", _scope, max_items=len(ALL))
    return tuple(s for s in ALL if s in named)


def _scope(value: Any, path: str) -> str:
    if value not in ALL:
        raise InvalidInput(f"{path} is not a scope: choose from {', '.join(ALL)}.", field="scopes")
    return str(value)


def parse_authors(value: Any) -> tuple[str, ...] | None:
    """The staff ids a key may post as; None: any member of its school."""
    if value is None:
        return None
    named = fields.listing(value, "authors", fields.identifier, max_items=MAX_AUTHORS)
    return tuple(dict.fromkeys(named))


def missing(scope: str, field: str | None = None) -> Forbidden:
    """403 naming the scope (and the field that needs it, when there is one)."""
    return Forbidden(f"This API key does not hold the {scope} scope.", field=field, scope=scope)


def require(who: Caller, scope: str) -> None:
    """An API key must hold `scope` (403 naming it); a staff session is judged by its roles."""
    if who.api_key is not None and scope not in who.api_key.scopes:
        raise missing(scope)


def require_author(who: Caller, author: object) -> None:
    """An API key limited to some authors posts only as one of them (403, field author)."""
    allowed = None if who.api_key is None else who.api_key.authors
    if allowed is not None and author not in allowed:
        raise Forbidden("This API key may not post as that member of staff.", field="author")


def may_restrict(who: Caller) -> bool:
    return who.api_key is None or RESTRICTED in who.api_key.scopes
