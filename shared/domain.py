"""Domain vocabulary shared by every service: roles, event kinds, category slugs."""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    TEACHER = "teacher"
    TEACHING_ASSISTANT = "teaching_assistant"
    SLT = "slt"
    HEAD = "head"
    PASTORAL = "pastoral"
    DSL = "dsl"
    DEPUTY_DSL = "deputy_dsl"
    ADMIN = "admin"


ROLES = frozenset(r.value for r in Role)

# Who may attach restricted categories, and the only roles a restricted incident may alert by
# rule (named staff aside). This is need-to-know policy, enforced in code whatever the rules say.
PRIVILEGED_ROLES = frozenset({Role.SLT, Role.HEAD, Role.PASTORAL, Role.DSL, Role.DEPUTY_DSL})


class EventKind(StrEnum):
    INCIDENT = "incident"
    ACTION = "action"
    ESCALATION = "escalation"


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lower case, every run of other characters turned into one '-', trimmed."""
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def category_slug(group: str, name: str | None = None) -> str:
    return slugify(group) if name is None else f"{slugify(group)}/{slugify(name)}"


def category_groups(slugs: list[str] | set[str]) -> set[str]:
    """The slugs with their groups added: a group is a category too."""
    return set(slugs) | {s.split("/", 1)[0] for s in slugs}


# Default categories from DOMAIN.md: group -> (restricted, names).
DEFAULT_CATEGORIES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "Attendance": (
        False,
        ("Early Help", "Internal monitoring", "PN", "PN fine", "Punctuality", "School meeting"),
    ),
    "Behaviour": (
        False,
        ("Negative behaviour", "Positive behaviour", "Team teach (restraint used)"),
    ),
    "Cause for concern": (
        False,
        (
            "Every child",
            "Injury/Bruise",
            "Child on Child Abuse",
            "Mental Health",
            "Safeguarding disclosure",
            "Sexualised comments",
        ),
    ),
    "Parent contact": (
        False,
        (
            "Dojo text",
            "Email",
            "Face-to-face conversation",
            "Meeting",
            "Mental Health",
            "Phone call",
            "Text",
        ),
    ),
    "SLT": (True, ()),
    "Safeguarding": (
        True,
        (
            "CIN notes",
            "CLA",
            "CLA review/PEP",
            "CP Conference",
            "CP plan",
            "Early Help assessment/review",
            "Operation Encompass",
            "Professional Referral",
            "Social care communication",
            "Early help service communication",
            "Strategy meeting",
        ),
    ),
    "SEN": (False, ("1:1 support", "HLN", "Intervention", "LLN", "Observation", "Plan do review")),
}
