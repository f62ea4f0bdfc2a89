"""The floor: the least any Python ingest on this stack must do per incident.

A minimal aiohttp handler that parses the JSON body and does one asyncpg INSERT into a
one-table database, with the same pool size as Beacon's default (DB_POOL_SIZE 10) and, like
Beacon's ingest, no session reset on release (a wasted round trip when nothing changes session
state). No validation, no auth, no outbox, no backpressure. bench/ingest.py drives it in the
same run as Beacon's ingest and reports the ratio.

    python bench/floor_server.py --port 8099 --dsn postgresql://127.0.0.1/floor
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)

SCHEMA = """CREATE TABLE IF NOT EXISTS incidents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author text NOT NULL, pupil text NOT NULL, occurred_at timestamptz NOT NULL,
    description text NOT NULL, categories text[] NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now())"""

INSERT = """INSERT INTO incidents (author, pupil, occurred_at, description, categories)
            VALUES ($1, $2, $3, $4, $5) RETURNING id"""


async def post_incident(request: web.Request) -> web.Response:
    body = await request.json()
    occurred_at = datetime.fromisoformat(body["occurred_at"])
    incident_id = await request.app[POOL].fetchval(
        INSERT, body["author"], body["pupil"], occurred_at, body["description"], body["categories"]
    )
    return web.json_response({"id": incident_id}, status=201)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


def app(dsn: str, pool_size: int) -> web.Application:
    async def pool(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await asyncpg.create_pool(
            dsn, min_size=pool_size, max_size=pool_size, reset=_no_reset
        )
        await app[POOL].execute(SCHEMA)
        yield
        await app[POOL].close()

    application = web.Application()
    application.cleanup_ctx.append(pool)
    application.router.add_post("/v1/incidents", post_incident)
    application.router.add_get("/healthz", healthz)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    web.run_app(
        app(args.dsn, args.pool_size), host="127.0.0.1", port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
