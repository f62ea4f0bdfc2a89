"""Need-to-know as a matrix: role x elevated x restricted x taught x alerted x school.

The oracle below is DOMAIN.md's wording, written as plainly as possible; the hand-picked rows
after it pin the cases that matter most, so a wrong oracle cannot hide a wrong policy."""

import itertools
import uuid

import pytest

from shared import access
from shared.access import IncidentFacts, Viewer
from shared.auth import scopes
from shared.domain import Role
from shared.problems import NotFound
from tests.support.world import RESTRICTED, record_incident, resolve_alerts, seed_school

SCHOOL, OTHER = uuid.uuid4(), uuid.uuid4()
PUPIL, INCIDENT, STAFF, KEY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
PRIVILEGED = {"slt", "head", "pastoral", "dsl", "deputy_dsl"}
ROLES = [r.value for r in Role]
BEHAVIOUR = "behaviour/negative-behaviour"


def viewer(role, elevated, taught, alerted, school=SCHOOL):
    return Viewer(
        school_id=school,
        staff_id=STAFF,
        roles=frozenset({role}),
        elevated=elevated,
        taught_pupil_ids=frozenset({PUPIL} if taught else ()),
        alerted_incident_ids=frozenset({INCIDENT} if alerted else ()),
    )


def incident(restricted, school=SCHOOL):
    return IncidentFacts(id=INCIDENT, school_id=school, pupil_id=PUPIL, restricted=restricted)


def oracle(role, elevated, restricted, taught, alerted, same_school):
    if not same_school:
        return False  # nobody sees another school's data
    if role in PRIVILEGED and elevated:
        return True  # all of their school, once elevated
    if alerted:
        return not (restricted and role in PRIVILEGED)  # unelevated privileged must elevate
    if role == "admin":
        return False  # accounts and settings only
    return taught and not restricted  # their pupils' ordinary incidents


MATRIX = list(
    itertools.product(
        ROLES, [False, True], [False, True], [False, True], [False, True], [False, True]
    )
)


@pytest.mark.parametrize(("role", "elevated", "restricted", "taught", "alerted", "same"), MATRIX)
def test_incident_matrix(role, elevated, restricted, taught, alerted, same):
    v = viewer(role, elevated, taught, alerted)
    i = incident(restricted, SCHOOL if same else OTHER)
    assert access.can_view_incident(v, i) is oracle(
        role, elevated, restricted, taught, alerted, same
    )


PINNED = [
    # role, elevated, restricted, taught, alerted, same school -> sees
    ("teacher", False, False, True, False, True, True),
    ("teacher", False, True, True, False, True, False),  # restricted: never by class
    ("teacher", True, True, True, False, True, False),  # elevation gives teachers nothing
    ("teacher", False, True, False, True, True, True),  # named on it: need-to-know
    ("teacher", False, False, False, False, True, False),  # not their pupil
    ("teaching_assistant", False, False, True, False, True, True),
    ("dsl", False, True, False, False, True, False),
    ("dsl", False, True, False, True, True, False),  # alerted by rule: still elevate
    ("dsl", True, True, False, False, True, True),
    ("dsl", True, True, False, False, False, False),  # not across schools
    ("slt", False, False, True, False, True, True),  # unelevated: like a teacher
    ("slt", False, False, False, False, True, False),
    ("head", True, False, False, False, True, True),
    ("admin", True, False, True, False, True, False),  # admin sees no incidents
    ("admin", True, True, False, False, True, False),
]


@pytest.mark.parametrize(
    ("role", "elevated", "restricted", "taught", "alerted", "same", "sees"), PINNED
)
def test_pinned_cases(role, elevated, restricted, taught, alerted, same, sees):
    v = viewer(role, elevated, taught, alerted)
    i = incident(restricted, SCHOOL if same else OTHER)
    assert access.can_view_incident(v, i) is sees


@pytest.mark.parametrize(("role", "elevated", "restricted", "taught", "alerted", "same"), MATRIX)
def test_elevation_never_takes_access_away(role, elevated, restricted, taught, alerted, same):
    i = incident(restricted, SCHOOL if same else OTHER)
    if access.can_view_incident(viewer(role, False, taught, alerted), i):
        assert access.can_view_incident(viewer(role, True, taught, alerted), i)


def test_teacher_of_a_linked_pupil_sees_an_ordinary_incident():
    linked = uuid.uuid4()
    i = IncidentFacts(INCIDENT, SCHOOL, PUPIL, False, linked_pupil_ids=frozenset({linked}))
    v = Viewer(SCHOOL, STAFF, roles=frozenset({"teacher"}), taught_pupil_ids=frozenset({linked}))
    assert access.can_view_incident(v, i)
    assert not access.can_view_incident(
        v, IncidentFacts(INCIDENT, SCHOOL, PUPIL, True, frozenset({linked}))
    )


@pytest.mark.parametrize(
    ("restricted", "posted_by_key", "same", "scope", "sees"),
    [
        (False, False, True, False, False),  # another's post: not the key's to read
        (False, True, True, False, True),
        (True, False, True, True, False),
        (True, True, True, False, False),  # its own restricted post needs `restricted`
        (True, True, True, True, True),
        (False, True, False, True, False),
        (True, True, False, True, False),
    ],
)
def test_api_keys(restricted, posted_by_key, same, scope, sees):
    v = access.api_key_viewer(SCHOOL, KEY, frozenset({"restricted"} if scope else ()))
    i = IncidentFacts(
        INCIDENT,
        SCHOOL if same else OTHER,
        PUPIL,
        restricted,
        api_key_id=KEY if posted_by_key else uuid.uuid4(),
    )
    assert access.can_view_incident(v, i) is sees


def test_api_keys_read_no_chronology_and_staff_alerts_only_with_the_scope():
    default = access.api_key_viewer(SCHOOL, KEY, frozenset(scopes.DEFAULT))
    staff_app = access.api_key_viewer(SCHOOL, KEY, frozenset({scopes.ALERTS_STAFF}))
    everything = access.api_key_viewer(SCHOOL, KEY, frozenset(scopes.ALL))
    assert not any(access.can_view_pupil(v, SCHOOL, PUPIL) for v in (default, everything))
    assert not access.can_view_staff_alerts(default, SCHOOL, STAFF)
    assert not access.can_mark_alert_read(default, SCHOOL, STAFF)
    assert access.can_view_staff_alerts(staff_app, SCHOOL, STAFF)
    assert not access.can_view_staff_alerts(staff_app, OTHER, STAFF)
    assert access.can_add_incident(default, SCHOOL) and not access.can_add_incident(
        staff_app, SCHOOL
    )


@pytest.mark.parametrize(
    ("role", "elevated", "taught", "same"),
    itertools.product(ROLES, [False, True], [False, True], [False, True]),
)
def test_pupils_and_adding_incidents(role, elevated, taught, same):
    v = viewer(role, elevated, taught, False)
    school = SCHOOL if same else OTHER
    sees = same and role != "admin" and (taught or (elevated and role in PRIVILEGED))
    assert access.can_view_pupil(v, school, PUPIL) is sees
    assert access.can_add_incident(v, school) is (same and role != "admin")  # no elevation


def test_alerts_and_devices_and_settings():
    me, someone = STAFF, uuid.uuid4()
    teacher = viewer("teacher", True, False, False)
    assert access.can_view_staff_alerts(teacher, SCHOOL, me)
    assert not access.can_view_staff_alerts(teacher, SCHOOL, someone)
    assert not access.can_mark_alert_read(teacher, OTHER, me)
    assert access.can_manage_devices(teacher, SCHOOL, me)
    assert not access.can_manage_devices(viewer("teacher", False, False, False), SCHOOL, me)
    assert not access.can_manage_devices(teacher, SCHOOL, someone)
    for role in ("admin", "dsl", "slt", "head"):
        assert access.can_manage_devices(viewer(role, True, False, False), SCHOOL, someone)
        assert not access.can_manage_devices(viewer(role, False, False, False), SCHOOL, someone)
        assert not access.can_manage_devices(viewer(role, True, False, False), OTHER, someone)
    assert access.can_change_settings(viewer("admin", True, False, False), SCHOOL)
    assert not access.can_change_settings(viewer("admin", False, False, False), SCHOOL)
    assert not access.can_change_settings(viewer("head", True, False, False), SCHOOL)


async def test_load_viewer_and_facts_from_the_database(pg):
    async with pg.acquire() as conn:
        school = await seed_school(conn)
        ordinary = (await record_incident(conn, school, "S07", "P0002", [BEHAVIOUR])).id
        recorded = await record_incident(conn, school, "S04", "P0001", [RESTRICTED], named=["S08"])
        await resolve_alerts(conn, recorded.event)  # the worker grants the named TA access
        secret = recorded.id
        finn = await access.load_viewer(conn, school.staff["S06"])
        hal = await access.load_viewer(conn, school.staff["S08"])
        assert hal is not None and not hal.granted_incident_ids | hal.alerted_incident_ids
        hal = await access.with_incident_grants(conn, hal, [secret, ordinary])
        facts = {i: await access.incident_facts(conn, i) for i in (ordinary, secret)}
        chronology = await access.pupil_incident_facts(conn, school.id, school.pupils["P0001"])
        assert (await access.visible_incident(conn, hal, secret)).restricted
        for missing in (secret, uuid.uuid4()):  # not yours and not there: the same 404
            with pytest.raises(NotFound) as caught:
                await access.visible_incident(conn, finn, missing)
            assert str(caught.value) == "No such incident."
        await conn.execute("UPDATE staff SET active = false WHERE id = $1", school.staff["S07"])
        assert await access.load_viewer(conn, school.staff["S07"]) is None
    assert finn.taught_pupil_ids == {school.pupils["P0001"], school.pupils["P0003"]}
    assert finn.roles == {"teacher"} and not finn.elevated
    assert hal.granted_incident_ids == {secret} and hal.alerted_incident_ids == {secret}
    assert not access.can_view_incident(finn, facts[secret])
    assert access.can_view_incident(hal, facts[secret])
    assert not access.can_view_incident(finn, facts[ordinary])  # P0002 is in C4, not C3
    assert [f.id for f in chronology] == [secret]
