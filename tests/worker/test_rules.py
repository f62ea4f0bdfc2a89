"""Recipient rules: a pure function, tested with a table (DOMAIN.md "Alerts")."""

import pytest

from services.ingest.records.schools import create_school
from shared.rules import Audience, Rule, audience, event_audience

LEADERS = {"slt", "head", "pastoral"}
RESTRICTED_AUDIENCE = LEADERS | {"dsl", "deputy_dsl"}


def rule(kind, category, roles, class_teachers=False):
    return Rule(kind, category, frozenset(roles), class_teachers)


# The defaults seeded into every school (0002_defaults.sql); test_seeded_rules_are_the_defaults
# keeps this copy honest.
DEFAULTS = [
    rule("incident", None, LEADERS, True),
    rule("incident", "safeguarding", RESTRICTED_AUDIENCE),
    rule("incident", "slt", RESTRICTED_AUDIENCE),
    rule("action", None, LEADERS),
]
CUSTOM = DEFAULTS + [
    rule("incident", "sen", {"teaching_assistant"}),
    rule("incident", "cause-for-concern/injury-bruise", {"dsl"}),
    rule("action", "safeguarding", {"dsl"}),
    rule("action", "behaviour", {"teacher"}, class_teachers=True),
    # Data that would break need-to-know if obeyed on a restricted incident:
    rule("incident", "safeguarding/cla", {"teacher", "teaching_assistant"}, class_teachers=True),
]


@pytest.mark.parametrize(
    "rules, kind, categories, restricted, roles, class_teachers",
    [
        # defaults
        (DEFAULTS, "incident", ["behaviour/negative-behaviour"], False, LEADERS, True),
        (
            DEFAULTS,
            "incident",
            ["cause-for-concern/injury-bruise", "sen/hln"],
            False,
            LEADERS,
            True,
        ),
        (DEFAULTS, "incident", ["safeguarding/cp-plan"], True, RESTRICTED_AUDIENCE, False),
        (DEFAULTS, "incident", ["safeguarding"], True, RESTRICTED_AUDIENCE, False),
        (DEFAULTS, "incident", ["slt"], True, RESTRICTED_AUDIENCE, False),
        (
            DEFAULTS,
            "incident",
            ["behaviour/team-teach-restraint-used", "slt"],
            True,
            RESTRICTED_AUDIENCE,
            False,
        ),
        (DEFAULTS, "action", ["behaviour/negative-behaviour"], False, LEADERS, False),
        (DEFAULTS, "action", ["safeguarding/cla"], True, LEADERS, False),
        # custom rules add to the defaults; groups match their children
        (CUSTOM, "incident", ["sen/1-1-support"], False, LEADERS | {"teaching_assistant"}, True),
        (CUSTOM, "incident", ["sen"], False, LEADERS | {"teaching_assistant"}, True),
        (CUSTOM, "incident", ["cause-for-concern/injury-bruise"], False, LEADERS | {"dsl"}, True),
        (CUSTOM, "incident", ["cause-for-concern/mental-health"], False, LEADERS, True),
        (CUSTOM, "action", ["safeguarding/cp-plan"], True, LEADERS | {"dsl"}, False),
        (CUSTOM, "action", ["behaviour/positive-behaviour"], False, LEADERS | {"teacher"}, True),
        # restricted: only privileged roles survive, never class teachers, whatever the data says
        (CUSTOM, "incident", ["safeguarding/cla"], True, RESTRICTED_AUDIENCE, False),
        (CUSTOM, "incident", ["safeguarding/cla", "sen/hln"], True, RESTRICTED_AUDIENCE, False),
        (CUSTOM, "action", ["behaviour/positive-behaviour", "slt"], True, LEADERS, False),
        # no rules, or rules of the other kind only: nobody by rule
        ([], "incident", ["behaviour"], False, set(), False),
        ([rule("action", None, LEADERS)], "incident", ["behaviour"], False, set(), False),
    ],
)
def test_audience(rules, kind, categories, restricted, roles, class_teachers):
    assert audience(rules, kind, categories, restricted) == Audience(
        frozenset(roles), class_teachers
    )


@pytest.mark.parametrize("level, roles", [(1, {"deputy_dsl"}), (2, {"head"}), (3, set())])
def test_escalation_levels_ignore_rules(level, roles):
    got = event_audience(CUSTOM, "escalation", level, ["safeguarding/cla"], True)
    assert got == Audience(frozenset(roles), False)


async def test_seeded_rules_are_the_defaults(pg):
    async with pg.acquire() as conn:
        school = await create_school(conn, "Rules Primary")
        rows = await conn.fetch(
            """SELECT event_kind, category_slug, roles, class_teachers FROM alert_rules
               WHERE school_id = $1""",
            school,
        )
    seeded = {
        (r["event_kind"], r["category_slug"], frozenset(r["roles"]), r["class_teachers"])
        for r in rows
    }
    assert seeded == {(r.event_kind, r.category_slug, r.roles, r.class_teachers) for r in DEFAULTS}
