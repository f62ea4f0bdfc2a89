"""Creating a school: the row plus its copy of the default categories and alert rules."""

from __future__ import annotations

import uuid

from shared.database import Connection


async def create_school(conn: Connection, name: str) -> uuid.UUID:
    school_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO schools (name) VALUES ($1) RETURNING id", name
    )
    await conn.execute("SELECT seed_school($1)", school_id)
    return school_id
