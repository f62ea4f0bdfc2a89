"""GET /v1/pupils/{id}/chronology: a pupil's incidents and actions in time order.

Every entry passes shared.access first: what a viewer may not see is left out entirely (a
teacher's chronology has no trace of a restricted incident), and every view is audited. The
query and both rules live in services.ingest.records.chronology, shared with the staff page.
Staff only: an API key, whatever its scopes, is refused (403). Paged: `page` and `per_page`
(at most API_PAGE_SIZE), the answer still an array, the other pages in a `Link` header.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.ingest.records import chronology
from shared import fields, paging
from shared.auth.caller import caller, client_ip, viewer
from shared.problems import Forbidden, NotFound
from shared.web import request_pool

API_PAGE_SIZE = 500


async def get_chronology(request: web.Request) -> web.Response:
    who = await caller(request)
    if who.api_key is not None:
        raise Forbidden("An API key reads back only what it posted, never a pupil's chronology.")
    external_id = fields.path_key(request.match_info["pupil_id"], "pupil")
    async with request_pool(request).acquire() as conn:
        v = await viewer(conn, who)
        pupil = await chronology.find_pupil(conn, who.school_id, external_id)
        if pupil is None:
            raise NotFound("No such pupil.")
        page, per_page = paging.page_args(request, API_PAGE_SIZE, API_PAGE_SIZE)
        found = await chronology.view_chronology(
            conn, v, pupil, page=page, size=per_page, ip=client_ip(request)
        )
    headers = paging.links(request, found.page, per_page, more=found.page < found.pages)
    return web.json_response([_entry(e) for e in found.entries], headers=headers)


def _entry(r: asyncpg.Record) -> dict[str, Any]:
    if r["kind"] == "action":
        return {
            "kind": "action",
            "id": str(r["id"]),
            "incident": str(r["incident_id"]),
            "at": r["at"].isoformat(),
            "author": r["author"],
            "description": r["description"],
        }
    return {
        "kind": "incident",
        "id": str(r["id"]),
        "reference": r["reference"],
        "at": r["at"].isoformat(),
        "recorded_at": r["recorded_at"].isoformat(),
        "pupil": r["pupil"],
        "author": r["author"],
        "categories": list(r["categories"]),
        "restricted": r["restricted"],
        "description": r["description"],
    }
