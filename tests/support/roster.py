"""A small school whose roster covers every role, for tests of rules and access."""

from __future__ import annotations

from typing import Any

STAFF: list[dict[str, Any]] = [
    {"id": "S01", "first_name": "Ada", "last_name": "Head", "initials": "AH", "roles": ["head", "slt"]},
    {"id": "S02", "first_name": "Ben", "last_name": "Senior", "initials": "BS", "roles": ["slt"]},
    {"id": "S03", "first_name": "Cara", "last_name": "Pastoral", "initials": "CP", "roles": ["pastoral"]},
    {"id": "S04", "first_name": "Dan", "last_name": "Lead", "initials": "DL", "roles": ["dsl", "teacher"]},
    {"id": "S05", "first_name": "Eve", "last_name": "Deputy", "initials": "ED", "roles": ["deputy_dsl"]},
    {"id": "S06", "first_name": "Finn", "last_name": "Teacher", "initials": "FT", "roles": ["teacher"]},
    {"id": "S07", "first_name": "Gail", "last_name": "Teacher", "initials": "GT", "roles": ["teacher"]},
    {"id": "S08", "first_name": "Hal", "last_name": "Assistant", "initials": "HA", "roles": ["teaching_assistant"]},
    {"id": "S09", "first_name": "Ida", "last_name": "Admin", "initials": "IA", "roles": ["admin"]},
]
for s in STAFF:
    s["email"] = f"{s['first_name'].lower()}.{s['last_name'].lower()}@school.example"

CLASSES: list[dict[str, Any]] = [
    {"id": "C3", "name": "Year 3", "teachers": ["S06", "S08"]},
    {"id": "C4", "name": "Year 4", "teachers": ["S07"]},
]

PUPILS: list[dict[str, Any]] = [
    {"id": "P0001", "first_name": "Zephyrine", "last_name": "Quillfeather",
     "date_of_birth": "2017-05-01", "classes": ["C3"]},
    {"id": "P0002", "first_name": "Yannick", "last_name": "Moonbeam",
     "date_of_birth": "2016-02-11", "classes": ["C4"]},
    {"id": "P0003", "first_name": "Xanthe", "last_name": "Larkspur",
     "date_of_birth": "2017-09-23", "classes": ["C3"]},
]


def roster() -> dict[str, Any]:
    return {"staff": [dict(s) for s in STAFF], "classes": [dict(c) for c in CLASSES],
            "pupils": [dict(p) for p in PUPILS]}
