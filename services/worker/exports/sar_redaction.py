"""Third parties in a subject access request's export, redacted by default (pure).

A third party is another pupil (a pupil linked to an incident, the pupil an incident the subject
is linked to is about, or any pupil of the school whose name appears in a text) or a member of
staff (who recorded, was alerted, viewed; or is named in a text). Each is shown by a label
given in order of first appearance and kept from the draft to the final: "Pupil A", "Pupil B"...,
"Staff member 1"... Other pupils are redacted by default, staff as the school's setting says;
the handler's decision on a party wins over its default.

Names in texts are found by the roster: a pupil's full name, first name or last name, a
member of staff's full name or title and last name ("Mrs Lead"), as whole words in any case,
longest first. A pupil's single name that is also the subject's own is not looked for (it would
redact the subject), and one shared by two other pupils is removed without a label (it cannot
be told whose it is, so no decision can reveal it). Names spelt any other way (nicknames,
misspellings) are not found: the handler reads the draft before the final.
"""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Key = tuple[str, uuid.UUID]  # ("pupil" | "staff", id)
UNKNOWN = "[name removed]"
_TITLES = ("mr", "mrs", "ms", "miss", "dr", "mx")


@dataclass(frozen=True, slots=True)
class Person:
    kind: str
    id: uuid.UUID
    first_name: str
    last_name: str
    role: str = ""  # staff: the role shown beside a revealed name

    @property
    def key(self) -> Key:
        return (self.kind, self.id)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class Redactor:
    """Labels and redacts third parties; `found` counts where each appeared."""

    subject: Person
    people: Mapping[Key, Person]
    redact_staff: bool
    labels: dict[Key, str] = field(default_factory=dict)  # from the draft, kept
    decisions: Mapping[Key, str] = field(default_factory=dict)  # "reveal" | "redact"
    found: dict[Key, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._names = _name_index(self.subject, self.people.values())
        self._pattern = _pattern(self._names)

    def redacted(self, key: Key) -> bool:
        decision = self.decisions.get(key)
        if decision is not None:
            return decision == "redact"
        return key[0] == "pupil" or self.redact_staff

    def person(self, key: Key) -> str:
        """How a third party is shown where the record names them."""
        if key == self.subject.key:
            return self.subject.name
        person = self.people.get(key)
        if person is None:
            return UNKNOWN
        self._count(key)
        if self.redacted(key):
            return self.labels[key]
        return f"{person.name} ({person.role})" if person.role else person.name

    def label(self, key: Key) -> str:
        if key not in self.labels:
            taken = {label for k, label in self.labels.items() if k[0] == key[0]}
            n = 0
            while _label(key[0], n) in taken:
                n += 1
            self.labels[key] = _label(key[0], n)
        return self.labels[key]

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(self._replace, value)

    def _replace(self, match: re.Match[str]) -> str:
        key = self._names.get(" ".join(match.group(0).split()).lower())
        if key is None:
            return UNKNOWN
        if not self.redacted(key):
            self._count(key)
            return match.group(0)
        return self.person(key)

    def _count(self, key: Key) -> None:
        """Labels are given in order of first appearance, revealed or not."""
        self.label(key)
        self.found[key] = self.found.get(key, 0) + 1


def _label(kind: str, n: int) -> str:
    if kind == "staff":
        return f"Staff member {n + 1}"
    letters = ""
    n += 1
    while n:  # A..Z, then AA, AB...
        n, rest = divmod(n - 1, 26)
        letters = string.ascii_uppercase[rest] + letters
    return f"Pupil {letters}"


def _name_index(subject: Person, people: Iterable[Person]) -> dict[str, Key | None]:
    """Lower-case name -> whose it is (None: more than one other pupil's)."""
    own = {subject.first_name.lower(), subject.last_name.lower(), subject.name.lower()}
    index: dict[str, Key | None] = {}
    singles: dict[str, set[Key]] = {}
    for p in people:
        if p.key == subject.key:
            continue
        if p.name.lower() not in own:
            index.setdefault(p.name.lower(), p.key)
        if p.kind == "staff":
            for title in _TITLES:
                index.setdefault(f"{title} {p.last_name}".lower(), p.key)
                index.setdefault(f"{title}. {p.last_name}".lower(), p.key)
            continue
        for single in (p.first_name.lower(), p.last_name.lower()):
            if len(single) >= 2 and single not in own:
                singles.setdefault(single, set()).add(p.key)
    for single, keys in singles.items():
        if single not in index:
            index[single] = next(iter(keys)) if len(keys) == 1 else None
    return index


def _pattern(names: Mapping[str, Key | None]) -> re.Pattern[str] | None:
    if not names:
        return None
    ordered = sorted(names, key=len, reverse=True)
    alternatives = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
