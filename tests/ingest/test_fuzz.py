"""Property: whatever is thrown at POST /v1/incidents, the answer is never a 5xx, every refusal
is problem+json, and the incidents table holds exactly one row per 201."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SLUGS = [
    "cause-for-concern/injury-bruise",
    "behaviour",
    "sen/1-1-support",
    "safeguarding/cp-plan",
    "slt",
    "no-such/slug",
    "",
    "BEHAVIOUR",
]
STAFF = ["S01", "S04", "S06", "S08", "S99", "", " S06 "]
PUPILS = ["P0001", "P0002", "P0003", "P9999", ""]

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _now_ish(offset_minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=offset_minutes)).isoformat()


timestamps = (
    st.sampled_from(
        [
            "2024-11-27T10:15:00Z",
            "2024-11-27T10:15:00",
            "2024-02-30T10:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "now",
            "",
        ]
    )
    | st.integers(-600, 600).map(_now_ish)
    | st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)
)
people = lambda ids: st.lists(st.sampled_from(ids), max_size=4) | json_values  # noqa: E731
marks = st.lists(
    st.fixed_dictionaries(
        {
            "view": st.sampled_from(["front", "back", "side"]) | json_values,
            "region": st.text(max_size=12) | json_values,
        },
        optional={"note": st.text(max_size=12) | json_values},
    ),
    max_size=3,
)

incidents = st.fixed_dictionaries(
    {},
    optional={
        "author": st.sampled_from(STAFF) | json_values,
        "pupil": st.sampled_from(PUPILS) | json_values,
        "occurred_at": timestamps | json_values,
        "description": st.text(max_size=40) | json_values,
        "categories": people(SLUGS),
        "linked_pupils": people(PUPILS),
        "agencies": st.lists(st.text(max_size=10), max_size=3) | json_values,
        "body_map": marks | json_values,
        "alert_staff": people(STAFF),
        "extra": json_values,
    },
)

# Mostly valid incidents with a field or two replaced, so 201s happen often too.
valid = st.fixed_dictionaries(
    {
        "author": st.sampled_from(["S01", "S04", "S06"]),
        "pupil": st.sampled_from(["P0001", "P0002"]),
        "occurred_at": st.integers(-10_000, 4).map(_now_ish),
        "description": st.text(min_size=1, max_size=60).filter(str.strip),
        "categories": st.lists(st.sampled_from(SLUGS[:5]), min_size=1, max_size=3, unique=True),
    },
    optional={
        "linked_pupils": st.just(["P0003"]),
        "agencies": st.lists(st.text(min_size=1, max_size=10).filter(str.strip), max_size=2),
        "body_map": st.lists(
            st.fixed_dictionaries(
                {
                    "view": st.sampled_from(["front", "back"]),
                    "region": st.sampled_from(["arm", "leg"]),
                }
            ),
            max_size=2,
        ),
        "alert_staff": st.lists(st.sampled_from(["S02", "S07"]), max_size=2, unique=True),
    },
)
mutated = st.tuples(valid, incidents).map(
    lambda pair: {**pair[0], **dict(list(pair[1].items())[:1])}
)

bodies = st.one_of(
    valid.map(json.dumps),
    mutated.map(json.dumps),
    incidents.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=64),
    st.sampled_from(
        [
            '{"description": "\\ud800"}',
            '{"author": "S06\\u0000"}',
            "[" * 5000,
            '{"pupil": "P0001"',
            "NaN",
            "1e999999",
        ]
    ),
).map(lambda b: b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass"))

headers = st.fixed_dictionaries(
    {
        "Content-Type": st.sampled_from(
            ["application/json"] * 6
            + ["text/plain", "application/problem+json", "multipart/form-data"]
        )
    },
    optional={"Idempotency-Key": st.sampled_from(["k1", "k2", "", "x" * 300])},
)


@pytest.fixture
def created() -> list[int]:
    """201s so far, across every example of one test run (the database is shared too)."""
    return [0]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, extra_headers=headers)
async def test_random_payloads_never_5xx_and_rows_match_201s(
    client, school, pg, created, body, extra_headers
):
    r = await client.post("/v1/incidents", data=body, headers={**school.headers, **extra_headers})
    assert r.status < 500, (r.status, await r.text(), body)
    if r.status == 201:
        created[0] += 1
    elif r.status >= 400:
        assert r.content_type == "application/problem+json"
        await r.json()
    else:
        assert r.status == 200 and r.headers["Idempotent-Replayed"] == "true"
    rows = await pg.fetchval("SELECT count(*) FROM incidents")
    assert rows == created[0]
    assert await pg.fetchval("SELECT count(*) FROM alert_events") == rows
