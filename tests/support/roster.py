"""A small school whose roster covers every role, for tests of rules and access."""

from __future__ import annotations

import copy
from typing import Any


def _staff(sid: str, first: str, last: str, initials: str, *roles: str) -> dict[str, Any]:
    return {
        "id": sid,
        "first_name": first,
        "last_name": last,
        "initials": initials,
        "roles": list(roles),
    }


STAFF: list[dict[str, Any]] = [
    _staff("S01", "Ada", "Head", "AH", "head", "slt"),
    _staff("S02", "Ben", "Senior", "BS", "slt"),
    _staff("S03", "Cara", "Pastoral", "CP", "pastoral"),
    _staff("S04", "Dan", "Lead", "DL", "dsl", "teacher"),
    _staff("S05", "Eve", "Deputy", "ED", "deputy_dsl"),
    _staff("S06", "Finn", "Teacher", "FT", "teacher"),
    _staff("S07", "Gail", "Teacher", "GT", "teacher"),
    _staff("S08", "Hal", "Assistant", "HA", "teaching_assistant"),
    _staff("S09", "Ida", "Admin", "IA", "admin"),
]
for s in STAFF:
    s["email"] = f"{s['first_name'].lower()}.{s['last_name'].lower()}@school.example"

CLASSES: list[dict[str, Any]] = [
    {"id": "C3", "name": "Year 3", "teachers": ["S06", "S08"]},
    {"id": "C4", "name": "Year 4", "teachers": ["S07"]},
]

PUPILS: list[dict[str, Any]] = [
    {
        "id": "P0001",
        "first_name": "Zephyrine",
        "last_name": "Quillfeather",
        "date_of_birth": "2017-05-01",
        "classes": ["C3"],
    },
    {
        "id": "P0002",
        "first_name": "Yannick",
        "last_name": "Moonbeam",
        "date_of_birth": "2016-02-11",
        "classes": ["C4"],
    },
    {
        "id": "P0003",
        "first_name": "Xanthe",
        "last_name": "Larkspur",
        "date_of_birth": "2017-09-23",
        "classes": ["C3"],
    },
]


def roster() -> dict[str, Any]:
    """A deep copy: a test may change its copy (a role, a class) without changing the next
    test's roster (a shallow copy once shared the role lists, and one test's new role leaked
    into every later test of the run)."""
    return copy.deepcopy({"staff": STAFF, "classes": CLASSES, "pupils": PUPILS})
