"""A school's alert rules over the API (rules are data; see shared/rules.py and
records/alert_rules.py), for the platform token or an elevated admin of the school.

    GET /v1/schools/{school_id}/alert-rules -> 200 [{"id", "event_kind", "category", "roles",
                                                     "class_teachers"}]
    PUT /v1/schools/{school_id}/alert-rules    the full list (or {"rules": [...]}) -> 200 the
                                                same shape; replaces the school's rules at once,
                                                audited with the rules before and after

Need-to-know on restricted incidents is enforced by the worker whatever the rules say, so no
rule here can widen who hears about a safeguarding or SLT incident.
"""

from __future__ import annotations

from aiohttp import web

from services.ingest.api.bodies import read_json
from services.ingest.api.categories import administrator
from services.ingest.api.context import database, path_id, state
from services.ingest.records import alert_rules as records
from shared.auth.administrators import audit_change

PATH = "/v1/schools/{school_id}/alert-rules"
# The parsing and the category check the pages use too.
parse_rules = records.parse_rules
check_categories = records.check_categories


async def get_rules(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    await administrator(request, school_id)
    async with database(request) as conn:
        return web.json_response(await records.rules_json(conn, school_id))


async def put_rules(request: web.Request) -> web.Response:
    school_id = path_id(request, "school_id")
    who = await administrator(request, school_id)
    rules = parse_rules(await read_json(request, state(request).settings.max_body_bytes))
    async with database(request) as conn, conn.transaction():
        before, after = await records.replace_rules(conn, school_id, rules)
        await audit_change(conn, request, who, school_id, "alert_rules.replace", before, after)
    return web.json_response(after)
