"""Files attached to an incident (letters, screenshots, scanned paper forms).

Uploads are multipart with an `author` field and a `file` part, bounded by max_file_bytes while
streaming. The stored content type is sniffed from the bytes; downloads are always attachments
with nosniff, so nothing uploaded is ever rendered by a browser in Beacon's origin.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from services.ingest.api.context import caller, database, path_id, session_author, state
from services.ingest.api.incidents import audit_view
from services.ingest.api.representation import file_path, stamp
from services.ingest.records.files import Upload, attach_file, safe_name
from services.ingest.records.incidents import STATEMENT_TIMEOUT
from shared import fields
from shared.auth import scopes
from shared.auth.caller import Caller, visible_or_404
from shared.database import Connection
from shared.problems import InvalidInput, NotFound, TooLarge, UnsupportedMediaType


async def post_file(request: web.Request) -> web.Response:
    settings = state(request).settings
    who = await caller(request)
    scopes.require(who, scopes.INCIDENTS_WRITE)
    incident_id = path_id(request, "incident_id")
    named, filename, data = await _read_upload(request, settings.max_file_bytes)
    author = await _author(request, who, incident_id, named)
    upload = Upload(filename, data)
    async with database(request) as conn:
        stored = await attach_file(
            conn,
            settings.files_dir,
            who.school_id,
            incident_id,
            author,
            upload,
            api_key_id=who.api_key_id,
            may_restrict=scopes.may_restrict(who),
        )
        if stored is None:
            await _refuse(conn, who, incident_id)
    assert stored is not None  # noqa: S101 (_refuse raised otherwise)
    return web.json_response(
        {
            "id": str(stored.id),
            "filename": stored.filename,
            "content_type": stored.content_type,
            "size_bytes": stored.size_bytes,
            "sha256": stored.sha256.hex(),
            "uploaded_by": author,
            "uploaded_at": stamp(stored.uploaded_at),
            "url": file_path(incident_id, stored.id),
        },
        status=201,
        headers={"Location": file_path(incident_id, stored.id)},
    )


async def _author(
    request: web.Request, who: Caller, incident_id: uuid.UUID, named: str | None
) -> str:
    """An API key names the uploader; a session uploads as itself (and must see the incident)."""
    if who.session is not None:
        body = await session_author(request, who, {"author": named}, incident_id)
        return str(body["author"])  # type: ignore[index]
    if named is None:
        raise InvalidInput("author is required.", field="author")
    scopes.require_author(who, named)
    return named


async def _read_upload(request: web.Request, max_bytes: int) -> tuple[str | None, str, bytes]:
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data.", field="Content-Type")
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise TooLarge(f"Files may be at most {max_bytes} bytes.", field="file")
    author: str | None = None
    upload: tuple[str, bytes] | None = None
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("Nested multipart bodies are not accepted.", field="file")
        if part.name == "author":
            raw = await _read_part(part, 256, "author")
            author = fields.identifier(raw.decode("utf-8", "replace"), "author")
        elif part.name == "file" and upload is None:
            upload = (safe_name(part.filename), await _read_part(part, max_bytes, "file"))
        else:
            raise InvalidInput(f"Unexpected form field {part.name!r}.", field=part.name or "form")
    if upload is None:
        raise InvalidInput("file is required.", field="file")
    return author, *upload


async def _read_part(part: BodyPartReader, max_bytes: int, name: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{name} may be at most {max_bytes} bytes.", field=name)
        chunks.append(chunk)
    return b"".join(chunks)


# As attach_file finds it: an API key finds only what it posted.
_FOUND = """SELECT EXISTS (SELECT FROM incidents WHERE school_id = $1 AND id = $2
  AND ($3::uuid IS NULL OR (api_key_id = $3 AND (NOT restricted OR $4::boolean))))"""


async def _refuse(conn: Connection, who: Caller, incident_id: uuid.UUID) -> None:
    exists = await conn.fetchval(
        _FOUND,
        who.school_id,
        incident_id,
        who.api_key_id,
        scopes.may_restrict(who),
        timeout=STATEMENT_TIMEOUT,
    )
    if not exists:
        raise NotFound("No such incident in this school.")
    raise InvalidInput(
        "The author is an unknown or inactive staff member of this school.", field="author"
    )


async def get_file(request: web.Request) -> web.Response:
    """Like the incident itself: need-to-know first, and the view audited in its transaction."""
    who = await caller(request)
    scopes.require(who, scopes.INCIDENTS_READ)
    incident_id, file_id = path_id(request, "incident_id"), path_id(request, "file_id")
    async with database(request) as conn, conn.transaction():
        await visible_or_404(conn, who, incident_id)
        row = await conn.fetchrow(
            """SELECT filename, content_type, data, stored_path FROM incident_files
               WHERE school_id = $1 AND incident_id = $2 AND id = $3
                 AND ($4::uuid IS NULL OR api_key_id = $4)""",
            who.school_id,
            incident_id,
            file_id,
            who.api_key_id,
            timeout=STATEMENT_TIMEOUT,
        )
        if row is None:
            raise NotFound("No such file on this incident.")
        await audit_view(conn, request, who, incident_id, file=str(file_id))
    data = row["data"]
    if data is None:
        data = await asyncio.to_thread(Path(row["stored_path"]).read_bytes)
    return web.Response(
        body=data,
        headers={
            "Content-Type": row["content_type"],
            "Content-Disposition": _attachment(row["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def _attachment(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
