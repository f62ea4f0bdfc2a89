"""Who hears about an event: a pure function over the school's alert rules (data).

Need-to-know is enforced here, in code, whatever the rules say: a restricted incident (and every
action or escalation on it) can reach only privileged roles by rule, never class teachers.
Named staff are added by the caller; they are not a matter of rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain import PRIVILEGED_ROLES, EventKind, Role, category_groups


@dataclass(frozen=True, slots=True)
class Rule:
    event_kind: str
    category_slug: str | None  # None: every event of its kind
    roles: frozenset[str]
    class_teachers: bool


@dataclass(frozen=True, slots=True)
class Audience:
    roles: frozenset[str]
    class_teachers: bool


# Escalation of an unread restricted alert: first the deputy DSLs, then the head.
ESCALATION_ROLES: dict[int, frozenset[str]] = {
    1: frozenset({Role.DEPUTY_DSL.value}),
    2: frozenset({Role.HEAD.value}),
}


def audience(
    rules: Iterable[Rule], event_kind: str, categories: Iterable[str], restricted: bool
) -> Audience:
    """The roles (and whether the class teachers) an event of `event_kind` alerts.

    A rule matches when its kind is the event's and its category is NULL or one of the
    incident's categories or their groups (a group is a category too).
    """
    present = category_groups(set(categories))
    roles: set[str] = set()
    class_teachers = False
    for rule in rules:
        if rule.event_kind != event_kind:
            continue
        if rule.category_slug is not None and rule.category_slug not in present:
            continue
        roles |= rule.roles
        class_teachers = class_teachers or rule.class_teachers
    if restricted:
        roles &= PRIVILEGED_ROLES
        class_teachers = False
    return Audience(frozenset(str(r) for r in roles), class_teachers)


def escalation_audience(level: int) -> Audience:
    return Audience(ESCALATION_ROLES.get(level, frozenset()), False)


def event_audience(
    rules: Iterable[Rule], event_kind: str, level: int, categories: Iterable[str], restricted: bool
) -> Audience:
    if event_kind == EventKind.ESCALATION:
        return escalation_audience(level)
    return audience(rules, event_kind, categories, restricted)
