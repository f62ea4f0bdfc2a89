"""Incident and action payloads parsed into typed values; every error names its field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields
from shared.problems import InvalidInput

# Paper records are typed up later, but nothing happens in the future: allow clock skew only.
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_DESCRIPTION = 20_000
MAX_CATEGORIES = 20
MAX_PEOPLE = 50
MAX_AGENCIES = 20
MAX_MARKS = 50
BODY_MAP_VIEWS = ("front", "back")


@dataclass(frozen=True, slots=True)
class BodyMapMark:
    view: str
    region: str
    note: str


@dataclass(frozen=True, slots=True)
class IncidentInput:
    author: str
    pupil: str
    occurred_at: dt.datetime
    description: str
    categories: list[str]
    linked_pupils: list[str]
    agencies: list[str]
    body_map: list[BodyMapMark]
    alert_staff: list[str]


@dataclass(frozen=True, slots=True)
class ActionInput:
    author: str
    description: str
    alert_staff: list[str]


_INCIDENT_FIELDS = frozenset(
    {
        "author",
        "pupil",
        "occurred_at",
        "description",
        "categories",
        "linked_pupils",
        "agencies",
        "body_map",
        "alert_staff",
    }
)
_ACTION_FIELDS = frozenset({"author", "description", "alert_staff"})
_MARK_FIELDS = frozenset({"view", "region", "note"})


def parse_incident(body: Any, now: dt.datetime) -> IncidentInput:
    p = fields.obj(body, "")
    fields.only_keys(p, _INCIDENT_FIELDS, "")
    pupil = fields.identifier(fields.required(p, "pupil"), "pupil")
    linked = _people(p, "linked_pupils")
    if pupil in linked:
        raise InvalidInput(
            "The incident's pupil cannot also be a linked pupil.",
            field=f"linked_pupils[{linked.index(pupil)}]",
        )
    return IncidentInput(
        author=fields.identifier(fields.required(p, "author"), "author"),
        pupil=pupil,
        occurred_at=fields.timestamp(
            fields.required(p, "occurred_at"), "occurred_at", latest=now + CLOCK_SKEW
        ),
        description=_description(p),
        categories=fields.unique(
            fields.listing(
                fields.required(p, "categories"), "categories", _slug, MAX_CATEGORIES, min_items=1
            ),
            "categories",
        ),
        linked_pupils=linked,
        agencies=fields.listing(_optional(p, "agencies"), "agencies", _agency, MAX_AGENCIES),
        body_map=fields.listing(_optional(p, "body_map"), "body_map", _mark, MAX_MARKS),
        alert_staff=_people(p, "alert_staff"),
    )


def parse_action(body: Any) -> ActionInput:
    p = fields.obj(body, "")
    fields.only_keys(p, _ACTION_FIELDS, "")
    return ActionInput(
        author=fields.identifier(fields.required(p, "author"), "author"),
        description=_description(p),
        alert_staff=_people(p, "alert_staff"),
    )


def _description(p: Mapping[str, Any]) -> str:
    return fields.text(fields.required(p, "description"), "description", MAX_DESCRIPTION)


def _people(p: Mapping[str, Any], key: str) -> list[str]:
    ids = fields.listing(_optional(p, key), key, fields.identifier, MAX_PEOPLE)
    return fields.unique(ids, key)


def _optional(p: Mapping[str, Any], key: str) -> Any:
    value = p.get(key)
    return [] if value is None else value


def _slug(value: Any, path: str) -> str:
    return fields.text(value, path, max_len=200)


def _agency(value: Any, path: str) -> str:
    return fields.text(value, path, max_len=200)


def _mark(value: Any, path: str) -> BodyMapMark:
    m = fields.obj(value, path)
    fields.only_keys(m, _MARK_FIELDS, path)
    view = fields.text(fields.required(m, "view", path), f"{path}.view", max_len=10)
    if view not in BODY_MAP_VIEWS:
        raise InvalidInput("view must be 'front' or 'back'.", field=f"{path}.view")
    note = m.get("note")
    return BodyMapMark(
        view=view,
        region=fields.text(fields.required(m, "region", path), f"{path}.region", max_len=100),
        note="" if note is None else fields.text(note, f"{path}.note", max_len=2000, min_len=0),
    )
